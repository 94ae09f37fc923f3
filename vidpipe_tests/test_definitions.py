import dagster as dg

from vidpipe.definitions import ALL_ASSETS, defs


def test_definitions_load_and_every_asset_is_documented():
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.assets_defs_by_key}
    assert keys == {"audio_analysis", "scene_analysis", "memory_state", "tryon_image",
                    "person_matte", "depth_map", "composite", "motion_clip", "lipsync_clip",
                    "upscaled_clip", "segment_take", "final_video", "video_qa"}
    for key, asset in repo.assets_defs_by_key.items():
        assert asset.descriptions_by_key.get(key), f"{key} has no description"
        assert asset.group_names_by_key[key] != "default", f"{key} has no group"
        assert asset.code_versions_by_key[key], f"{key} has no code_version"
    assert sum(len(a.keys) for a in ALL_ASSETS) == 13
    # the seven stages in two steps: stills and animation
    steps = {k.to_user_string(): a.node_def.name for k, a in repo.assets_defs_by_key.items()}
    assert {k for k, s in steps.items() if s == "stills"} == {
        "tryon_image", "person_matte", "depth_map", "composite"}
    assert {k for k, s in steps.items() if s == "animation"} == {
        "motion_clip", "lipsync_clip", "upscaled_clip"}


def test_jobs_sensors_schedule_are_defined():
    repo = defs.get_repository_def()
    assert {"analyze_project", "render_segment", "deliver_video", "measure_quality"} <= set(
        repo.job_names)
    assert {s.name for s in repo.sensor_defs} == {"inbox_sensor", "render_dispatch_sensor"}
    assert [s.name for s in repo.schedule_defs] == ["batch_render_schedule"]


def test_segment_assets_are_partitioned_by_project_and_segment():
    repo = defs.get_repository_def()
    tryon = repo.assets_defs_by_key[dg.AssetKey("tryon_image")]
    assert isinstance(tryon.partitions_def, dg.MultiPartitionsDefinition)
    assert {d.name for d in tryon.partitions_def.partitions_defs} == {"project", "segment"}
    final = repo.assets_defs_by_key[dg.AssetKey("final_video")]
    assert isinstance(final.partitions_def, dg.DynamicPartitionsDefinition)


def test_gpu_stages_share_a_pool():
    repo = defs.get_repository_def()
    pools = {k.to_user_string(): a.op.pool for k, a in repo.assets_defs_by_key.items()}
    assert {k for k, p in pools.items() if p == "gpu"} == {
        "tryon_image", "person_matte", "depth_map", "composite", "motion_clip",
        "lipsync_clip", "upscaled_clip"}


def test_embedded_cli_renders_build_the_stages_without_a_pool():
    from vidpipe.definitions import build_defs

    repo = build_defs(gpu_pool=None).get_repository_def()
    assert {a.op.pool for a in repo.assets_defs_by_key.values()} == {None}
    # same keys and jobs as the UI's definitions: only the pool differs
    assert set(repo.assets_defs_by_key) == set(defs.get_repository_def().assets_defs_by_key)


def test_the_stage_pool_follows_the_project_backend(tmp_path):
    from types import SimpleNamespace

    from vidpipe.render.runner import stage_pool

    def project(backend):
        return SimpleNamespace(spec=SimpleNamespace(backend=backend))

    assert stage_pool(project("comfyui")) == "gpu"
    assert stage_pool(project("embedded")) is None
