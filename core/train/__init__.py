"""Training: the method's three stages on one's own audio-image-caption pairs (issue 10).

    dataset.py     metadata.jsonl rows, checked, bad rows skipped with reasons
    prepare.py     videos + AudioCaps/VGGSound CSV -> dataset folder (PyAV; resumable)
    features.py    CLAP embeddings, caption tokens, VAE latents: computed once, cached on disk by content
    batches.py     which samples, noise and timesteps a step sees (seeded by position: exact resume)
    stages.py      StageModel: the three stages' losses over the engine's own projector and adapters
    loop.py        train(config): accelerate, checkpoints, resume, validation, graceful stop
    layout.py      a run folder's names, and how a shared file names a checkpoint (light: no torch)
    checkpoint.py  run folder layout, atomic step checkpoints, RUN/final/ (what Engine loads)
    metrics.py     metrics.jsonl, status.json, TensorBoard, progress bar
    validation.py  fixed-noise validation loss and engine-made validation images
    card.py        the model card
    stop.py        SIGTERM / Ctrl-C / RUN/STOP -> checkpoint, exit 130
    launch.py      start a run as a separate process and follow it (for the studio)

Import the submodules you need; this package imports nothing heavy by itself.
"""
