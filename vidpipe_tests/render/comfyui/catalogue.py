"""The node classes the stand-in server knows, as /object_info data.

Core classes (and VideoHelperSuite's two) follow the live /object_info of ComfyUI v0.33.0
(commit 783545f) run with --cpu on 2026-11-26, with VideoHelperSuite @4ee72c0 installed:
input names and groups, spec forms (the old combo list `[[...], {}]` or V3
`["COMBO", {"options": ...}]`), combo options, numeric default/min/max/step, outputs and
output_node. Only keys that change what a value may be are kept (no tooltips). The other
custom packs come from their source (shared/reference/comfyui.md §11).
`vidpipe_tests/render/comfyui/live.py` compares this catalogue with a running server
(live_server_checks.py, opt-in).

A combo that lists model files is written `MODELS(folder)` and one that lists the input
folder `INPUT_FILE(kind)`; both are filled on every request, as a real server re-reads its
folders.
"""

from __future__ import annotations

from typing import Any


def MODELS(folder: str, v3: bool = False) -> list:
    """A combo of the files in models/<folder>: old list form, or V3 COMBO when `v3`."""
    return ["__MODELS__", folder, v3]


def INPUT_FILE(kind: str, v3: bool = False, flag: str | None = None) -> list:
    """A loader's file combo: the top-level input files of `kind` (image, audio, video,
    vhs_video); the loader validates the value itself against the whole input folder."""
    return ["__INPUT_FILE__", kind, v3, flag]


def INT(default=0, lo=0, hi=0xFFFFFFFFFFFFFFFF, step=1) -> list:
    opts = {"default": default, "min": lo}
    if hi is not None:
        opts["max"] = hi
    if step is not None:
        opts["step"] = step
    return ["INT", opts]


def FLOAT(default=0.0, lo=-1e9, hi=1e9, step=0.01) -> list:
    opts = {"default": default, "min": lo}
    if hi is not None:
        opts["max"] = hi
    if step is not None:
        opts["step"] = step
    return ["FLOAT", opts]


def STRING(default: str | None = "") -> list:
    return ["STRING", {} if default is None else {"default": default}]


def BOOL(default=False) -> list:
    return ["BOOLEAN", {"default": default}]


def COMBO(*options, **opts) -> list:
    """The old combo form: [[options], {...}]."""
    return [list(options), dict(opts)]


def V3COMBO(*options, **opts) -> list:
    """The V3 combo form: ["COMBO", {"multiselect": false, "options": [...]}]."""
    return ["COMBO", {"multiselect": False, "options": list(options), **opts}]


def DYNCOMBO(*keys) -> list:
    """A V3 dynamic combo, keys only (the nested inputs of each key are left out)."""
    return ["COMFY_DYNAMICCOMBO_V3", {"options": [{"key": k, "inputs": {"required": {}}}
                                                  for k in keys]}]


def LINK(t: str) -> list:
    return [t]


_CLASSES: dict[str, dict[str, Any]] = {}
_VALIDATES: dict[str, set[str]] = {}


def node(name: str, required: dict, outputs: list[str], *, optional: dict | None = None,
         output_names: list[str] | None = None, output_node: bool = False,
         module: str = "nodes", validates: tuple[str, ...] = ()) -> None:
    """`validates`: the inputs the node checks itself (VALIDATE_INPUTS), for which the
    server skips its own min/max/combo checks (this is why a loader takes "sub/x.png")."""
    _CLASSES[name] = {
        "input": {"required": required, "optional": optional or {}},
        "input_order": {"required": list(required), "optional": list(optional or {})},
        "output": outputs, "output_is_list": [False] * len(outputs),
        "output_name": output_names or outputs, "name": name, "display_name": name,
        "description": "", "python_module": module, "category": "stand-in",
        "output_node": output_node, "deprecated": False, "experimental": False,
    }
    if validates:
        _VALIDATES[name] = set(validates)


SAMPLERS = COMBO(
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2",
    "exp_heun_2_x0", "exp_heun_2_x0_sde", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast",
    "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde",
    "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
    "lcm", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp",
    "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "gradient_estimation",
    "gradient_estimation_cfg_pp", "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece",
    "ddim", "uni_pc", "uni_pc_bh2")
SCHEDULERS = COMBO("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta",
                   "normal", "linear_quadratic", "kl_optimal")

# --- core (live /object_info of v0.33.0) ---------------------------------------------------
node("LoadImage", {"image": INPUT_FILE("image", flag="image_upload")}, ["IMAGE", "MASK"],
     validates=("image",))
node("SaveImage", {"images": LINK("IMAGE"), "filename_prefix": STRING("ComfyUI")}, ["IMAGE"],
     output_names=["images"], output_node=True)
node("PreviewImage", {"images": LINK("IMAGE")}, ["IMAGE"], output_names=["images"],
     output_node=True)
node("EmptyImage", {"width": INT(512, 1, 16384), "height": INT(512, 1, 16384),
                    "batch_size": INT(1, 1, 4096, step=None), "color": INT(0, 0, 0xFFFFFF)},
     ["IMAGE"])
node("LoadAudio", {"audio": INPUT_FILE("audio", v3=True, flag="audio_upload")}, ["AUDIO"],
     module="comfy_extras.nodes_audio", validates=("audio",))
node("SaveAudio", {"audio": LINK("AUDIO"), "filename_prefix": STRING("audio/ComfyUI")},
     ["AUDIO"], output_names=["audio"], output_node=True, module="comfy_extras.nodes_audio")
node("LoadVideo", {"file": INPUT_FILE("video", v3=True, flag="video_upload")}, ["VIDEO"],
     module="comfy_extras.nodes_video", validates=("file",))
node("GetVideoComponents", {"video": LINK("VIDEO")}, ["IMAGE", "AUDIO", "FLOAT", "INT", "COMBO"],
     output_names=["images", "audio", "fps", "bit_depth", "color_space"],
     module="comfy_extras.nodes_video")
node("CreateVideo", {"images": LINK("IMAGE"), "fps": FLOAT(30.0, 1.0, 120.0, step=1.0)},
     ["VIDEO"], optional={"audio": LINK("AUDIO"), "bit_depth": INT(8, 8, 10, step=2)},
     module="comfy_extras.nodes_video")
node("SaveVideo", {"video": LINK("VIDEO"), "filename_prefix": STRING("video/ComfyUI"),
                   "format": DYNCOMBO("auto", "mp4", "mkv", "webm")}, ["VIDEO"],
     optional={"codec": DYNCOMBO("auto", "h264", "av1")}, output_names=["video"],
     output_node=True, module="comfy_extras.nodes_video")
node("GetImageSize", {"image": LINK("IMAGE")}, ["INT", "INT", "INT"],
     output_names=["width", "height", "batch_size"], module="comfy_extras.nodes_images")
node("PreviewAny", {"source": LINK("*")}, ["STRING"], output_node=True,
     module="comfy_extras.nodes_preview_any")
node("ImageScale", {"image": LINK("IMAGE"),
                    "upscale_method": COMBO("nearest-exact", "bilinear", "area", "bicubic", "lanczos"),
                    "width": INT(512, 0, 16384), "height": INT(512, 0, 16384),
                    "crop": COMBO("disabled", "center")}, ["IMAGE"])
node("ImageToMask", {"image": LINK("IMAGE"), "channel": V3COMBO("red", "green", "blue", "alpha")},
     ["MASK"], module="comfy_extras.nodes_mask")
node("MaskToImage", {"mask": LINK("MASK")}, ["IMAGE"], module="comfy_extras.nodes_mask")
node("CheckpointLoaderSimple", {"ckpt_name": MODELS("checkpoints")}, ["MODEL", "CLIP", "VAE"])
node("UNETLoader", {"unet_name": MODELS("diffusion_models"),
                    "weight_dtype": COMBO("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")},
     ["MODEL"])
node("DualCLIPLoader", {"clip_name1": MODELS("text_encoders"), "clip_name2": MODELS("text_encoders"),
                        "type": COMBO("sdxl", "sd3", "flux", "hunyuan_video", "hidream",
                                      "hunyuan_image", "hunyuan_video_15", "kandinsky5",
                                      "kandinsky5_image", "ltxv", "newbie", "ace")}, ["CLIP"],
     optional={"device": COMBO("default", "cpu")})
node("VAELoader", {"vae_name": MODELS("vae")}, ["VAE"])
node("CLIPTextEncode", {"text": STRING(None), "clip": LINK("CLIP")}, ["CONDITIONING"])
node("KSampler", {"model": LINK("MODEL"), "seed": INT(0, step=None),
                  "steps": INT(20, 1, 10000, step=None), "cfg": FLOAT(8.0, 0.0, 100.0, step=0.1),
                  "sampler_name": SAMPLERS, "scheduler": SCHEDULERS,
                  "positive": LINK("CONDITIONING"), "negative": LINK("CONDITIONING"),
                  "latent_image": LINK("LATENT"), "denoise": FLOAT(1.0, 0.0, 1.0)}, ["LATENT"])
node("VAEEncode", {"pixels": LINK("IMAGE"), "vae": LINK("VAE")}, ["LATENT"])
node("VAEDecode", {"samples": LINK("LATENT"), "vae": LINK("VAE")}, ["IMAGE"])
node("InpaintModelConditioning", {"positive": LINK("CONDITIONING"), "negative": LINK("CONDITIONING"),
                                  "vae": LINK("VAE"), "pixels": LINK("IMAGE"), "mask": LINK("MASK"),
                                  "noise_mask": BOOL(True)},
     ["CONDITIONING", "CONDITIONING", "LATENT"], output_names=["positive", "negative", "latent"])
node("ControlNetLoader", {"control_net_name": MODELS("controlnet")}, ["CONTROL_NET"])
node("ControlNetApplyAdvanced", {"positive": LINK("CONDITIONING"), "negative": LINK("CONDITIONING"),
                                 "control_net": LINK("CONTROL_NET"), "image": LINK("IMAGE"),
                                 "strength": FLOAT(1.0, 0.0, 10.0),
                                 "start_percent": FLOAT(0.0, 0.0, 1.0, step=0.001),
                                 "end_percent": FLOAT(1.0, 0.0, 1.0, step=0.001)},
     ["CONDITIONING", "CONDITIONING"], optional={"vae": LINK("VAE")},
     output_names=["positive", "negative"])
node("FluxGuidance", {"conditioning": LINK("CONDITIONING"),
                      "guidance": FLOAT(3.5, 0.0, 100.0, step=0.1)}, ["CONDITIONING"],
     module="comfy_extras.nodes_flux")
node("DifferentialDiffusion", {"model": LINK("MODEL")}, ["MODEL"],
     optional={"strength": FLOAT(1.0, 0.0, 1.0)}, module="comfy_extras.nodes_differential_diffusion")
node("CLIPVisionLoader", {"clip_name": MODELS("clip_vision")}, ["CLIP_VISION"])
node("CLIPVisionEncode", {"clip_vision": LINK("CLIP_VISION"), "image": LINK("IMAGE"),
                          "crop": COMBO("center", "none")}, ["CLIP_VISION_OUTPUT"])
node("StyleModelLoader", {"style_model_name": MODELS("style_models")}, ["STYLE_MODEL"])
node("StyleModelApply", {"conditioning": LINK("CONDITIONING"), "style_model": LINK("STYLE_MODEL"),
                         "clip_vision_output": LINK("CLIP_VISION_OUTPUT"),
                         "strength": FLOAT(1.0, 0.0, 10.0, step=0.001),
                         "strength_type": COMBO("multiply", "attn_bias")},
     ["CONDITIONING"])
node("UpscaleModelLoader", {"model_name": MODELS("upscale_models", v3=True)}, ["UPSCALE_MODEL"],
     module="comfy_extras.nodes_upscale_model")
node("ImageUpscaleWithModel", {"upscale_model": LINK("UPSCALE_MODEL"), "image": LINK("IMAGE")},
     ["IMAGE"], module="comfy_extras.nodes_upscale_model")

# --- custom packs (§11) ---------------------------------------------------------------------
P = "custom_nodes."
node("PipelineLoader", {"weight_dtype": COMBO("float32", "float16", "bfloat16")}, ["PIPELINE"],
     module=P + "ComfyUI-IDM-VTON")
node("IDM-VTON", {"pipeline": LINK("PIPELINE"), "human_img": LINK("IMAGE"), "pose_img": LINK("IMAGE"),
                  "mask_img": LINK("IMAGE"), "garment_img": LINK("IMAGE"),
                  "garment_description": STRING(), "negative_prompt": STRING(),
                  "width": INT(768, 0, 8192), "height": INT(1024, 0, 8192),
                  "num_inference_steps": INT(30, 1, 1000), "guidance_scale": FLOAT(2.0, 0, 20),
                  "strength": FLOAT(1.0, 0, 1), "seed": INT(42)}, ["IMAGE", "MASK"],
     module=P + "ComfyUI-IDM-VTON")
node("LoadOOTDPipeline", {"type": COMBO("Half body", "Full body"), "path": STRING("models/OOTDiffusion")},
     ["MODEL"], output_names=["pipe"], module=P + "ComfyUI-OOTDiffusion")
node("OOTDGenerate", {"pipe": LINK("MODEL"), "cloth_image": LINK("IMAGE"), "model_image": LINK("IMAGE"),
                      "seed": INT(0), "steps": INT(20, 1, 100), "cfg": FLOAT(2.0, 0, 14),
                      "category": COMBO("Upper body", "Lower body", "Dress")},
     ["IMAGE", "IMAGE"], output_names=["image", "image_masked"], module=P + "ComfyUI-OOTDiffusion")
node("CatVTONWrapper", {"image": LINK("IMAGE"), "mask": LINK("MASK"), "refer_image": LINK("IMAGE"),
                        "mask_grow": INT(25, -999, 999), "mixed_precision": COMBO("fp32", "fp16", "bf16"),
                        "seed": INT(0), "steps": INT(40, 1, 10000), "cfg": FLOAT(2.5, 0, 14)},
     ["IMAGE"], module=P + "ComfyUI_CatVTON_Wrapper")
SAM2_MODELS = COMBO("sam2_hiera_base_plus.safetensors", "sam2_hiera_large.safetensors",
                    "sam2_hiera_small.safetensors", "sam2_hiera_tiny.safetensors",
                    "sam2.1_hiera_base_plus.safetensors", "sam2.1_hiera_large.safetensors",
                    "sam2.1_hiera_small.safetensors", "sam2.1_hiera_tiny.safetensors")
node("DownloadAndLoadSAM2Model", {"model": SAM2_MODELS,
                                  "segmentor": COMBO("single_image", "video", "automaskgenerator"),
                                  "device": COMBO("cuda", "cpu", "mps"),
                                  "precision": COMBO("fp16", "bf16", "fp32")}, ["SAM2MODEL"],
     module=P + "ComfyUI-segment-anything-2")
node("Sam2Segmentation", {"sam2_model": LINK("SAM2MODEL"), "image": LINK("IMAGE"),
                          "keep_model_loaded": BOOL(True)}, ["MASK"],
     optional={"coordinates_positive": ["STRING", {"forceInput": True}],
               "coordinates_negative": ["STRING", {"forceInput": True}], "bboxes": LINK("BBOX"),
               "individual_objects": BOOL(False), "mask": LINK("MASK")},
     output_names=["mask"], module=P + "ComfyUI-segment-anything-2")
node("DownloadAndLoadDepthAnythingV2Model",
     {"model": COMBO("depth_anything_v2_vits_fp16.safetensors", "depth_anything_v2_vits_fp32.safetensors",
                     "depth_anything_v2_vitb_fp16.safetensors", "depth_anything_v2_vitb_fp32.safetensors",
                     "depth_anything_v2_vitl_fp16.safetensors", "depth_anything_v2_vitl_fp32.safetensors",
                     "depth_anything_v2_vitg_fp32.safetensors",
                     "depth_anything_v2_metric_hypersim_vitl_fp32.safetensors",
                     "depth_anything_v2_metric_vkitti_vitl_fp32.safetensors")},
     ["DAMODEL"], optional={"precision": COMBO("auto", "bf16", "fp16", "fp32")},
     output_names=["da_v2_model"], module=P + "ComfyUI-DepthAnythingV2")
node("DepthAnything_V2", {"da_model": LINK("DAMODEL"), "images": LINK("IMAGE")}, ["IMAGE"],
     output_names=["image"], module=P + "ComfyUI-DepthAnythingV2")
node("DensePosePreprocessor", {"image": LINK("IMAGE")}, ["IMAGE"],
     optional={"model": COMBO("densepose_r50_fpn_dl.torchscript", "densepose_r101_fpn_dl.torchscript"),
               "cmap": COMBO("Viridis (MagicAnimate)", "Parula (CivitAI)"),
               "resolution": INT(512, 64, 16384, 64)}, module=P + "comfyui_controlnet_aux")
IPA_PRESETS = COMBO("LIGHT - SD1.5 only (low strength)", "STANDARD (medium strength)",
                    "VIT-G (medium strength)", "PLUS (high strength)", "PLUS FACE (portraits)",
                    "FULL FACE - SD1.5 only (portraits stronger)")
node("IPAdapterUnifiedLoader", {"model": LINK("MODEL"), "preset": IPA_PRESETS}, ["MODEL", "IPADAPTER"],
     optional={"ipadapter": LINK("IPADAPTER")}, output_names=["model", "ipadapter"],
     module=P + "ComfyUI_IPAdapter_plus")
node("IPAdapterAdvanced", {"model": LINK("MODEL"), "ipadapter": LINK("IPADAPTER"), "image": LINK("IMAGE"),
                           "weight": FLOAT(1.0, -1, 5), "weight_type": COMBO(
                               "linear", "ease in", "ease out", "ease in-out", "reverse in-out",
                               "weak input", "weak output", "weak middle", "strong middle",
                               "style transfer", "composition", "strong style transfer",
                               "style and composition", "style transfer precise",
                               "composition precise"),
                           "combine_embeds": COMBO("concat", "add", "subtract", "average", "norm average"),
                           "start_at": FLOAT(0.0, 0, 1), "end_at": FLOAT(1.0, 0, 1),
                           "embeds_scaling": COMBO("V only", "K+V", "K+V w/ C penalty",
                                                   "K+mean(V) w/ C penalty")},
     ["MODEL"], optional={"image_negative": LINK("IMAGE"), "attn_mask": LINK("MASK"),
                          "clip_vision": LINK("CLIP_VISION")}, module=P + "ComfyUI_IPAdapter_plus")
MIMIC = P + "ComfyUI-MimicMotionWrapper"
node("DownloadAndLoadMimicMotionModel",
     {"model": COMBO("MimicMotionMergedUnet_1-0-fp16.safetensors", "MimicMotionMergedUnet_1-1-fp16.safetensors"),
      "precision": COMBO("fp32", "fp16", "bf16")}, ["MIMICPIPE"], output_names=["mimic_pipeline"],
     module=MIMIC)
node("MimicMotionGetPoses", {"ref_image": LINK("IMAGE"), "pose_images": LINK("IMAGE"),
                             "include_body": BOOL(True), "include_hand": BOOL(True),
                             "include_face": BOOL(True)}, ["IMAGE", "IMAGE"],
     output_names=["poses_with_ref", "pose_images"], module=MIMIC)
node("MimicMotionSampler", {"mimic_pipeline": LINK("MIMICPIPE"), "ref_image": LINK("IMAGE"),
                            "pose_images": LINK("IMAGE"), "steps": INT(25, 1, 200),
                            "cfg_min": FLOAT(2.0, 0, 20), "cfg_max": FLOAT(2.0, 0, 20), "seed": INT(0),
                            "fps": INT(15, 2, 100), "noise_aug_strength": FLOAT(0.0, 0, 10),
                            "context_size": INT(16, 1, 128), "context_overlap": INT(6, 1, 128),
                            "keep_model_loaded": BOOL(True)}, ["LATENT"], output_names=["samples"],
     module=MIMIC)
node("MimicMotionDecode", {"mimic_pipeline": LINK("MIMICPIPE"), "samples": LINK("LATENT"),
                           "decode_chunk_size": INT(4, 1, 200)}, ["IMAGE"], output_names=["images"],
     module=MIMIC)
ADE = P + "ComfyUI-AnimateDiff-Evolved"
node("ADE_LoadAnimateDiffModel", {"model_name": MODELS("animatediff_models")}, ["MOTION_MODEL"],
     optional={"ad_settings": LINK("AD_SETTINGS")}, module=ADE)
node("ADE_ApplyAnimateDiffModelSimple", {"motion_model": LINK("MOTION_MODEL")}, ["M_MODELS"],
     optional={"motion_lora": LINK("MOTION_LORA"), "scale_multival": LINK("MULTIVAL"),
               "effect_multival": LINK("MULTIVAL"), "ad_keyframes": LINK("AD_KEYFRAMES"),
               "per_block": LINK("PER_BLOCK")}, module=ADE)
node("ADE_StandardUniformContextOptions", {"context_length": INT(16, 1, 128),
                                           "context_stride": INT(1, 1, 32),
                                           "context_overlap": INT(4, 0, 128)}, ["CONTEXT_OPTS"],
     optional={"fuse_method": COMBO("flat", "pyramid", "relative"), "use_on_equal_length": BOOL(False),
               "start_percent": FLOAT(0.0, 0, 1), "guarantee_steps": INT(1, 0, 1000)}, module=ADE)
node("ADE_UseEvolvedSampling", {"model": LINK("MODEL"), "beta_schedule": COMBO(
    "autoselect", "use existing", "sqrt_linear (AnimateDiff)", "linear (AnimateDiff-SDXL)",
    "linear (HotshotXL/default)", "lcm")}, ["MODEL"],
     optional={"m_models": LINK("M_MODELS"), "context_options": LINK("CONTEXT_OPTS"),
               "sample_settings": LINK("SAMPLE_SETTINGS")}, module=ADE)
node("Wav2Lip", {"images": LINK("IMAGE"), "mode": COMBO("sequential", "repetitive"),
                 "face_detect_batch": INT(8, 1, 100), "audio": LINK("AUDIO")}, ["IMAGE", "AUDIO"],
     output_names=["images", "audio"], module=P + "ComfyUI_wav2lip")
LSW = P + "ComfyUI-LatentSyncWrapper"
node("LatentSyncNode", {"images": LINK("IMAGE"), "audio": LINK("AUDIO"), "seed": INT(1247),
                        "lips_expression": FLOAT(1.5, 1.0, 3.0), "inference_steps": INT(20, 1, 999)},
     ["IMAGE", "AUDIO"], output_names=["images", "audio"], module=LSW)
node("VideoLengthAdjuster", {"images": LINK("IMAGE"), "audio": LINK("AUDIO"),
                             "mode": COMBO("normal", "pingpong", "loop_to_audio"),
                             "fps": FLOAT(25.0, 1, 120), "silent_padding_sec": FLOAT(0.5, 0, 3)},
     ["IMAGE", "AUDIO"], output_names=["images", "audio"], module=LSW)
VHS = P + "ComfyUI-VideoHelperSuite"
# Live /object_info of ComfyUI-VideoHelperSuite @4ee72c0 on v0.33.0. The format list's order
# follows the pack's video_formats/ folder listing; its "formats" extra lists the extra
# top-level inputs of each video format (only the one our workflows use is kept here).
VHS_FORMATS = COMBO("image/gif", "image/webp", "video/ProRes", "video/webm", "video/ffv1-mkv",
                    "video/nvenc_av1-mp4", "video/h265-mp4", "video/8bit-png", "video/h264-mp4",
                    "video/nvenc_hevc-mp4", "video/nvenc_h264-mp4", "video/ffmpeg-gif",
                    "video/av1-webm", "video/16bit-png",
                    formats={"video/h264-mp4": [
                        ["pix_fmt", ["yuv420p", "yuv420p10le"]],
                        ["crf", "INT", {"default": 19, "min": 0, "max": 100, "step": 1}],
                        ["save_metadata", "BOOLEAN", {"default": True}],
                        ["trim_to_audio", "BOOLEAN", {"default": False}]]})
VHS_MAX = 9007199254740991
node("VHS_LoadVideo", {"video": INPUT_FILE("vhs_video"), "force_rate": FLOAT(0, 0, 60, step=1),
                       "custom_width": INT(0, 0, 8192, step=None),
                       "custom_height": INT(0, 0, 8192, step=None),
                       "frame_load_cap": INT(0, 0, VHS_MAX), "skip_first_frames": INT(0, 0, VHS_MAX),
                       "select_every_nth": INT(1, 1, VHS_MAX)},
     ["IMAGE", "INT", "AUDIO", "VHS_VIDEOINFO"],
     optional={"meta_batch": LINK("VHS_BatchManager"), "vae": LINK("VAE"),
               "format": COMBO("None", "AnimateDiff", "Mochi", "LTXV", "Hunyuan", "Cosmos", "Wan",
                               default="AnimateDiff")},
     output_names=["IMAGE", "frame_count", "audio", "video_info"], module=VHS,
     validates=("video",))
node("VHS_VideoCombine", {"images": LINK("IMAGE"), "frame_rate": FLOAT(8, 1, None, step=1),
                          "loop_count": INT(0, 0, 100), "filename_prefix": STRING("AnimateDiff"),
                          "format": VHS_FORMATS, "pingpong": BOOL(False), "save_output": BOOL(True)},
     ["VHS_FILENAMES"], optional={"audio": LINK("AUDIO"), "meta_batch": LINK("VHS_BatchManager"),
                                  "vae": LINK("VAE")},
     output_names=["Filenames"], output_node=True, module=VHS)
node("RIFE VFI", {"ckpt_name": COMBO("rife47.pth", "rife49.pth", "rife417.pth", "rife426.pth",
                                     "sudo_rife4_269.662_testV1_scale1.pth"),
                  "frames": LINK("IMAGE"), "clear_cache_after_n_frames": INT(10, 1, 1000),
                  "multiplier": INT(2, 1, 1000), "fast_mode": BOOL(True), "ensemble": BOOL(True),
                  "scale_factor": COMBO(0.25, 0.5, 1.0, 2.0, 4.0),
                  "dtype": COMBO("float32", "float16", "bfloat16"), "torch_compile": BOOL(False),
                  "batch_size": INT(1, 1, 100)}, ["IMAGE"],
     optional={"optional_interpolation_states": LINK("INTERPOLATION_STATES")},
     module=P + "ComfyUI-Frame-Interpolation")

# Nodes that take any extra input key (VHS's catch-all hidden spec, comfyui.md §11).
CATCH_ALL = {"VHS_VideoCombine"}


def catalogue() -> dict[str, dict[str, Any]]:
    import copy

    return copy.deepcopy(_CLASSES)


def dynamic_inputs(cls: str) -> set[str]:
    """Inputs of `cls` whose combo lists the server's files (models or uploads)."""
    info = _CLASSES.get(cls, {}).get("input", {})
    return {name for group in ("required", "optional")
            for name, spec in (info.get(group) or {}).items()
            if spec and spec[0] in ("__MODELS__", "__INPUT_FILE__")}


def validated_by_node(cls: str) -> set[str]:
    """Inputs `cls` validates itself (the server then skips min/max/combo for them)."""
    return set(_VALIDATES.get(cls, ()))
