"""`train(config)`: one stage of the method, from a dataset folder to RUN/final/.

The loop is accelerate's: the same code runs on one CPU, one GPU, or many processes started with
`accelerate launch` / `torchrun` (data parallel, gradients averaged by DDP), with mixed precision,
gradient accumulation and gradient checkpointing. Sample order, noise and timesteps come from
core/train/batches.py (a pure function of the seed and the sample's position), which makes a
resumed run continue exactly and N processes equal one process with the same global batch.

    1. run folder: a new run refuses to write over another; a resumed one reuses its config
    2. models (core.models, any spec, "tiny" in tests), frozen
    3. dataset -> features (cached on disk by content; shards computed in parallel)
    4. projector (fresh or --init) + adapters -> StageModel -> accelerate.prepare
    5. steps: forward, backward, optimizer; metrics, status, checkpoints, validation, stop requests
    6. final: a last checkpoint, validation, RUN/final/ (engine files + model card)
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..attention import AudioAdapters
from ..audio_state import AudioState
from ..errors import UserError
from ..models import load_models
from ..projector import AudioProjector
from . import checkpoint as ckpt
from .batches import BatchMaker, BatchPlan
from .card import model_card, shareable_config
from .config import TrainConfig, TrainError, repeats_note
from .dataset import DatasetReport, load_dataset
from .features import Encoders, FeatureStore, content_key, prepare_features
from .metrics import MetricsLog, ProgressBar, Status, tensorboard_available, tracker_config, write_skipped
from .stages import StageModel, gate_summary, level_blend_table, make_optimizer, optimizer_step
from .stop import StopRequest
from .validation import VALIDATION, Validator

StepHook = Callable[[int, dict], None]  # (step done, its record) on the main process; tests use it
SKIPPED_SHOWN = 20  # skipped rows named in status.json (all of them: RUN/skipped_rows.txt)


@dataclass
class TrainResult:
    run: Path
    state: str  # "done" | "stopped"
    step: int
    final: Path | None
    last_checkpoint: Path | None
    losses: dict[int, float] = field(default_factory=dict)  # logged step -> loss
    val_losses: dict[int, float] = field(default_factory=dict)
    rows_used: int = 0
    skipped: list = field(default_factory=list)
    main: bool = True  # False on the other processes of a multi-process run (they report nothing)


def _mixed_precision(config: TrainConfig, cpu: bool) -> str:
    if config.mixed_precision != "auto":
        return config.mixed_precision
    return "fp16" if torch.cuda.is_available() and not cpu else "no"


def _inside(folder: str | None, run: Path) -> bool:
    return bool(folder) and Path(folder).expanduser().resolve().is_relative_to(run.resolve())


def train(
    config: TrainConfig,
    resume: str | None = None,
    *,
    bundle=None,
    cpu: bool = False,
    progress: bool = True,
    images: bool = True,
    on_step: StepHook | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Run one stage. Raises UserError subclasses for bad data or settings; a stop request returns
    a result with state "stopped" after saving a checkpoint."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    config = config.validate()
    run = Path(config.out).expanduser()
    fresh = not resume and not run.exists()  # a folder this call makes: gone again if nothing trains
    if resume:
        ckpt.check_resume_config(run, config)
        checkpoint = ckpt.resolve_resume(run, resume)
    else:
        ckpt.check_fresh_run(run)
    # The run is this one from here on: its status file says how it fares, failures included.
    main = os.environ.get("RANK", "0") == "0"  # accelerate's main process, known before it starts
    status = Status(run, main, resumed=bool(resume), stage=config.stage, total=config.steps)
    say = log if main else (lambda _: None)
    state = AudioState()
    accelerator, adapters, bar = None, None, None
    stack = contextlib.ExitStack()
    try:
        status.update(state="preparing")
        init = ckpt.check_init(config)  # before any model loads: none there, or other models'
        # What the card, training.json and TensorBoard name as the start: the folder loaded (a run
        # stopped half-way gives its latest checkpoint, 's2/checkpoints/step-0000011', not 's2').
        recorded = config.replace(init=str(init)) if init is not None else config
        report = load_dataset(config.data)  # a wrong folder fails before any model loads
        report.require_rows()
        cpu = cpu or not torch.cuda.is_available()  # accelerate's MULTI_CPU (gloo) needs cpu=True
        mixed = _mixed_precision(config, cpu)
        accelerator = Accelerator(
            mixed_precision=mixed,
            gradient_accumulation_steps=config.grad_accum,
            cpu=cpu,
            log_with="tensorboard" if tensorboard_available() else None,
            project_config=ProjectConfiguration(project_dir=str(run), logging_dir=str(run / "logs")),
        )
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched != accelerator.num_processes or main != accelerator.is_main_process:
            raise TrainError(  # never train N independent copies by mistake
                f"started as {launched} processes but accelerate sees {accelerator.num_processes}: "
                "launch with `accelerate launch` or `torchrun` on a supported setup"
            )
        if main and not resume:
            ckpt.write_run_config(run, config)
        stop = stack.enter_context(StopRequest(run))  # from here on, Ctrl-C / SIGTERM / STOP stop gracefully
        # 2. models ------------------------------------------------------------------------------
        weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed, torch.float32)
        bundle = bundle or load_models(config.models, device=str(accelerator.device), dtype=weight_dtype)
        pipe = bundle.pipe
        for module in (pipe.unet, pipe.vae, pipe.text_encoder, bundle.clap_model):
            module.requires_grad_(False)

        # 3. data --------------------------------------------------------------------------------
        store = FeatureStore(config.cache or Path(config.data).expanduser() / ".cache" / "features")
        encoders = Encoders(bundle, config.resolution, batch_size=max(1, min(16, config.batch_size * 2)))
        shard = (accelerator.process_index, accelerator.num_processes)
        prepare_features(report.rows, store, encoders, config.uses_unet, shard=shard)
        empty_key = content_key("text", encoders.text_id, "")
        if not store.has("text", empty_key):
            store.put("text", empty_key, encoders.text_tokens([""])[0])
        accelerator.wait_for_everyone()
        samples, failed = prepare_features(report.rows, store, encoders, config.uses_unet, compute=False)
        skipped = sorted(report.skipped + failed, key=lambda s: s.line)  # decoding's among the others
        report = DatasetReport(report.folder, [s.row for s in samples], skipped, report.durations)
        say(f"data: {report.summary()}{write_skipped(run, report.skipped, main)}")
        report.require_rows()
        fingerprint = hashlib.sha256("".join(s.clap + s.text + (s.latent or "") for s in samples).encode()).hexdigest()

        # 4. model -------------------------------------------------------------------------------
        validator = Validator(run, config, bundle, samples, images=images and main)  # before the adapters
        adapters = AudioAdapters(pipe.unet, state)
        torch.manual_seed(config.seed)
        if init is not None:
            projector = ckpt.load_init(init, adapters, encoders.clap_dim, encoders.token_dim)
        else:
            if config.stage > 1:
                say("note: no --init, so the projector starts from random weights (the method runs stage 1 first)")
            projector = AudioProjector(config.projector_config(encoders.clap_dim, encoders.token_dim))
        noise_scheduler = None
        if config.uses_unet:
            from diffusers import DDPMScheduler

            noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
            if config.gradient_checkpointing:
                pipe.unet.enable_gradient_checkpointing()
        params = config.generation_params()
        model = StageModel(config.stage, projector, adapters, pipe.unet, noise_scheduler, params, config.align_weight)
        model.requires_grad_(True)
        model.to(accelerator.device, torch.float32)
        model.projector.eval()  # no dropout: every sample's loss is a function of its seed alone
        optimizer = make_optimizer(model, config.lr, config.weight_decay)
        from diffusers.optimization import get_scheduler

        lr_scheduler = get_scheduler(
            config.lr_schedule,
            optimizer,
            num_warmup_steps=min(config.warmup_steps, config.steps),
            num_training_steps=config.steps,
        )
        model, optimizer = accelerator.prepare(model, optimizer)
        accelerator.register_for_checkpointing(lr_scheduler)  # stepped by hand: once per optimizer step
        inner = accelerator.unwrap_model(model)

        start = 0
        metrics = MetricsLog(run, main)
        if resume:
            accelerator.load_state(str(checkpoint))
            saved = ckpt.read_state(checkpoint)
            start = int(saved["step"])
            metrics.truncate_after(start)
            if saved.get("data") != fingerprint:
                say("warning: the dataset changed since this run started; the resumed run trains on the new rows")
            say(f"resuming {run.name} at step {start} from {checkpoint.name}")
            if checkpoint.resolve().is_relative_to(run.resolve()):  # what a stop before the next one resumes
                status.update(step=start, last_checkpoint=str(checkpoint.resolve().relative_to(run.resolve())))
        else:  # an earlier attempt here that saved no checkpoint (check_fresh_run): its curve and images go
            metrics.clear()
            if main:
                shutil.rmtree(run / VALIDATION, ignore_errors=True)
        if accelerator.log_with:
            accelerator.init_trackers("tensorboard", config=tracker_config(recorded))

        # 5. steps -------------------------------------------------------------------------------
        plan = BatchPlan(len(samples), config.seed, config.batch_size, accelerator.num_processes, config.grad_accum)
        if note := repeats_note(plan.global_batch * config.grad_accum, len(samples)):
            say(f"note: a step's batch of {plan.global_batch * config.grad_accum} samples is {note}")
        timesteps = noise_scheduler.config.num_train_timesteps if noise_scheduler is not None else 1000
        maker = BatchMaker(
            samples, store, empty_key, config.seed, config.caption_dropout, timesteps, accelerator.device
        )
        inference_table = level_blend_table(timesteps, params) if config.uses_unet else None

        def micro_batches(step: int, table):
            """This process's share of each micro-batch of the step (built when needed)."""
            for micro in range(config.grad_accum):
                positions = plan.positions(step, micro, accelerator.process_index)
                yield maker.batch(positions, [plan.sample_index(p) for p in positions], table)

        def export(folder: Path) -> Path:
            return ckpt.export_engine_files(inner.projector, adapters, folder)

        result = TrainResult(run, "done", start, None, None, rows_used=len(samples), skipped=report.skipped, main=main)
        summary = {"rows_used": len(samples), "rows_skipped": len(report.skipped), "mixed_precision": mixed}
        summary.update(processes=accelerator.num_processes, global_batch=plan.global_batch * config.grad_accum)

        def validate(step: int) -> None:
            status.update(state="validating")
            value = validator.loss(inner, maker, inference_table, chunk=config.batch_size)
            if value is not None:
                result.val_losses[step] = value
                metrics.log({"step": step, "stage": config.stage, "val_loss": value})
                accelerator.log({"val_loss": value}, step=step)
            folder = validator.images(step, export, pause=adapters.remove, resume=inner.install)
            status.update(state="training", val_loss=value, last_validation=folder.name if folder else None)

        def save(step: int) -> Path:
            status.update(state="saving")
            state_data = {"step": step, "stage": config.stage, "data": fingerprint, "time": time.time()}
            path = ckpt.save_checkpoint(accelerator, run, step, state_data, export, config.keep_checkpoints)
            result.last_checkpoint = path
            status.update(last_checkpoint=str(path.relative_to(run)))
            return path

        bar = ProgressBar(config.steps, start, config.stage, enabled=main and progress)
        started = time.perf_counter()
        status.update(
            state="training",
            step=start,
            rows_used=len(samples),
            rows_skipped=len(report.skipped),
            skipped=[str(s) for s in report.skipped[:SKIPPED_SHOWN]],  # the Train page says which, and why
        )
        if start == 0 and main:
            validate(0)
        accelerator.wait_for_everyone()
        step, saved_at = start, start
        window = {"loss": torch.zeros((), device=accelerator.device), "steps": 0, "since": time.perf_counter()}

        def flush_log(step: int, temperature: float | None) -> dict:
            """One metrics line for the steps since the last one (a collective: every rank calls it)."""
            loss_value = float(accelerator.gather(window["loss"][None]).mean()) / window["steps"]
            elapsed = max(time.perf_counter() - window["since"], 1e-9)
            record = {
                "step": step,
                "stage": config.stage,
                "loss": loss_value,
                "lr": float(lr_scheduler.get_last_lr()[0]),
                "samples_per_s": window["steps"] * plan.global_batch * config.grad_accum / elapsed,
            }
            if temperature is not None:
                record["temperature"] = temperature
            metrics.log(record)
            accelerator.log({k: v for k, v in record.items() if k != "step"}, step=step)
            result.losses[step] = loss_value
            summary.setdefault("first_loss", loss_value)
            summary["last_loss"] = loss_value
            window.update(loss=window["loss"] * 0, steps=0, since=time.perf_counter())
            bar.set_postfix(loss=f"{loss_value:.4f}")
            status.update(step=step, loss=loss_value, samples_per_s=record["samples_per_s"], eta_s=bar.eta())
            if not math.isfinite(loss_value):  # diverged: every step from here on trains NaN weights
                raise TrainError(
                    f"{run.name}: the loss became {loss_value} by step {step}: training diverged (a learning rate "
                    "too high for this data, or fp16 overflowing). Start again with a lower learning rate, or in "
                    "fp32 (--mixed-precision no)."
                )
            return record

        def stop_agreed() -> bool:
            """One rank's signal or STOP file stops every rank (a collective when there are several)."""
            if accelerator.num_processes == 1:
                return stop.requested
            flag = torch.tensor([float(stop.requested)], device=accelerator.device)
            return bool(accelerator.gather(flag).max() > 0)

        if stop_agreed():  # asked before the first step: nothing new to save
            say(f"stopped before step {start + 1} ({stop.reason})")
            status.update(state="stopped", step=start)
            result.state = "stopped"
            return result
        while step < config.steps:
            temperature = config.temperature_at(step) if config.stage == 3 else None
            table = (
                level_blend_table(timesteps, params, temperature, config.anneal_crossfade) if config.uses_unet else None
            )
            model.train()
            inner.projector.eval()
            batches = micro_batches(step, table)
            window["loss"] += optimizer_step(accelerator, model, optimizer, batches, config.max_grad_norm)
            lr_scheduler.step()
            step += 1
            window["steps"] += 1
            result.step = step
            bar.update(1)
            # a checkpoint step is logged too: its loss is checked (a NaN) before its weights are saved
            logged = step % config.log_every == 0 or step % config.checkpoint_every == 0 or step == config.steps
            record = flush_log(step, temperature) if logged else None
            if on_step is not None and main:
                on_step(step, record or {})
            if stop_agreed():
                if record is None:
                    flush_log(step, temperature)
                say(f"stopping at step {step} ({stop.reason or 'requested'}): saving a checkpoint")
                status.update(state="stopping")
                save(step)
                result.state = "stopped"
                status.update(state="stopped", step=step)
                return result
            if step % config.checkpoint_every == 0 or step == config.steps:
                save(step)
                saved_at = step
                status.update(state="training")
            if main and config.val_every and step % config.val_every == 0 and step != config.steps:
                validate(step)
            accelerator.wait_for_everyone()
        bar.close()

        # 6. final -------------------------------------------------------------------------------
        if saved_at != step:
            save(step)
        if main:
            validate(step)
            gates = gate_summary(adapters, inner.groups)
            summary.update(steps_done=step, seconds=time.perf_counter() - started, gates=gates)
            vals = list(result.val_losses.values())
            summary.update(first_val_loss=vals[0] if vals else None, last_val_loss=vals[-1] if vals else None)
            training = {"config": shareable_config(recorded), "summary": summary}
            result.final = ckpt.write_final(run, export, model_card(recorded, summary), training)
            say(f"final checkpoint: {result.final}")
        accelerator.wait_for_everyone()
        status.update(state="done", step=step, final=str(Path(ckpt.FINAL)))
        return result
    except BaseException as exc:
        preparing = status.data["state"] == "preparing"
        refused = ckpt.write_refused(exc, run, status.data["state"])  # a full disk: what to do, not a traceback
        said = refused or exc
        message = str(said) if isinstance(said, UserError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):  # the disk may refuse the status too: never hide why the run ended
            status.update(state="failed", error=message or type(exc).__name__)
        if fresh and preparing and main and not _inside(config.cache, run):
            # Nothing trained (models or data that did not load): no folder that looks like a failed
            # run, so the same --out is simply used again. A run the studio started keeps its
            # folder (it made it: train.log and status.json say what went wrong).
            shutil.rmtree(run, ignore_errors=True)
        if refused is not None:
            raise refused from None
        raise
    finally:
        stack.close()
        if bar is not None:
            bar.close()
        if accelerator is not None:
            accelerator.end_training()
        if adapters is not None:
            adapters.remove()
        state.end()
        if bundle is not None and getattr(bundle.pipe.unet, "is_gradient_checkpointing", False):
            bundle.pipe.unet.disable_gradient_checkpointing()


__all__ = ["TrainResult", "train"]
