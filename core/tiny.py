"""Tiny random-weight models: the real classes with small configs, built in code, fully offline.

Every loader in core/models.py has a "tiny" spec built here, so the tests run the same code paths
(diffusers' StableDiffusionPipeline, transformers' ClapModel) as a real run, in seconds, with no
download. Weights come from a fixed torch seed, so a tiny run is reproducible across processes.
The images they make are meaningless; the plumbing is not.
"""

from __future__ import annotations

import torch
from tokenizers.pre_tokenizers import ByteLevel

TINY_SEED = 1234
TINY_CROSS_DIM = 32  # text/audio token width in the tiny UNet (768 in SD 1.x)
TINY_CLAP_DIM = 32  # joint CLAP space width in the tiny CLAP (512 in LAION-CLAP)

# SD 1.5's own scheduler config (scheduler/scheduler_config.json), so schedulers match the real run.
SD15_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "prediction_type": "epsilon",
}


def _byte_alphabet() -> list[str]:
    return sorted(ByteLevel.alphabet())


def tiny_clip_tokenizer():
    """A byte-level CLIP tokenizer with no merges: every character is a token, any text works."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in _byte_alphabet():
        vocab[ch] = len(vocab)
    for ch in _byte_alphabet():
        vocab[ch + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_roberta_tokenizer():
    """A byte-level RoBERTa tokenizer (CLAP's text side) with no merges."""
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in _byte_alphabet():
        vocab[ch] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=512)


def tiny_sd_pipeline():
    """StableDiffusionPipeline with a 2-level cross-attention UNet (down, mid and up groups all
    have cross-attention, as in SD 1.x), an 8x VAE and a 2-layer CLIP text encoder."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_clip_tokenizer()
    torch.manual_seed(TINY_SEED)
    unet = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TINY_CROSS_DIM,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TINY_CROSS_DIM,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    return _assemble(unet, vae, text_encoder, tokenizer)


def tiny_preview_vae():
    """AutoencoderTiny (TAESD's class) with small widths and random weights: the tiny spec's preview
    decoder. Same latent channels (4) and 8x upsampling as the tiny VAE, so it decodes its latents."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(TINY_SEED)
    return AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    ).eval()


def _assemble(unet, vae, text_encoder, tokenizer):
    """A StableDiffusionPipeline from parts, with SD 1.5's scheduler and no safety checker."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DPMSolverMultistepScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_clap():
    """(ClapModel, ClapFeatureExtractor, tokenizer): HTSAT + RoBERTa with tiny widths.

    The feature extractor is the real one (48 kHz, 10 s, 64 mel bins), so audio preprocessing is
    exactly what LAION-CLAP sees.
    """
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    tokenizer = tiny_roberta_tokenizer()
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=80,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            projection_dim=TINY_CLAP_DIM,
        ),
        audio_config=dict(
            patch_embeds_hidden_size=16,
            depths=[1, 1],
            num_attention_heads=[2, 2],
            hidden_size=32,
            window_size=8,
            enable_fusion=False,
            projection_dim=TINY_CLAP_DIM,
            spec_size=256,
            num_mel_bins=64,
        ),
        projection_dim=TINY_CLAP_DIM,
    )
    torch.manual_seed(TINY_SEED)
    model = ClapModel(config).eval()
    return model, ClapFeatureExtractor(), tokenizer


# -- full-size architectures with random weights (benchmarks: real shapes, nothing to download) ----
def sd15_unet():
    """The SD 1.5 UNet (860 M parameters) with random weights: for overhead ratios, not images."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(TINY_SEED)
    return UNet2DConditionModel(
        sample_size=64,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
    )


def sd15_pipeline():
    """StableDiffusionPipeline with SD 1.5's UNet, VAE and CLIP ViT-L/14 text encoder shapes, random
    weights; the tokenizer is the tiny byte-level one (tokenisation cost is negligible)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_clip_tokenizer()
    unet = sd15_unet()
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=1, pad_token_id=1,
            hidden_size=768, intermediate_size=3072, num_attention_heads=12,  # ViT-L/14's text tower
        )
    )  # fmt: skip
    return _assemble(unet, vae, text_encoder, tokenizer)


def sd15_preview_vae():
    """TAESD's architecture (AutoencoderTiny's default config is madebyollin/taesd's) with random
    weights: the preview decoder's real cost, for benchmarks."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(TINY_SEED)
    return AutoencoderTiny().eval()
