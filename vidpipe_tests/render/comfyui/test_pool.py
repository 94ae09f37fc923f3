"""Several servers share the work; one that stops answering is taken out."""

from __future__ import annotations

import pytest

from vidpipe.render.comfyui.errors import ComfyExecutionError
from vidpipe.render.comfyui.pool import NoServerLeft, ServerPool
from vidpipe_tests.render.comfyui.conftest import fast_client
from vidpipe_tests.render.comfyui.standin import free_port
from vidpipe_tests.render.comfyui.test_client import copy_graph


def copy_job(path):
    def job(client):
        result = client.run(copy_graph(client.upload(path)), workflow="copy", time_limit_s=20)
        return result.server

    return job


def test_a_dead_server_is_taken_out_and_work_moves_on(standin, second_standin, small_png):
    dead = f"http://127.0.0.1:{free_port()}"
    pool = ServerPool([dead, standin.url, second_standin.url], client_factory=fast_client)
    assert pool.run(copy_job(small_png)) == standin.url
    assert pool.is_down(dead) and pool.healthy() == [standin.url, second_standin.url]


def test_server_lost_mid_run_retries_the_job_elsewhere(standin, second_standin, small_png):
    pool = ServerPool([standin.url, second_standin.url], client_factory=fast_client)
    standin.faults.die_class = "ImageScale"
    assert pool.run(copy_job(small_png)) == second_standin.url
    assert pool.is_down(standin.url)
    assert pool.run(copy_job(small_png)) == second_standin.url  # stays out
    assert second_standin.hits["upload_written"] == 1  # uploaded once there, then reused


def test_a_failing_node_is_not_retried_on_another_server(standin, second_standin, small_png):
    pool = ServerPool([standin.url, second_standin.url], client_factory=fast_client)
    standin.faults.fail_class = "ImageScale"
    with pytest.raises(ComfyExecutionError):
        pool.run(copy_job(small_png))
    assert second_standin.hits["prompt"] == 0 and not pool.is_down(standin.url)


def test_no_server_left_says_what_each_did(small_png):
    urls = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    pool = ServerPool(urls, client_factory=fast_client)
    with pytest.raises(NoServerLeft) as info:
        pool.run(copy_job(small_png))
    assert all(u in str(info.value) for u in urls)
    with pytest.raises(NoServerLeft, match="taken out"):
        pool.run(copy_job(small_png))


def test_shared_pool_is_one_per_url_list():
    a = ServerPool.shared(["http://127.0.0.1:9/"])
    assert ServerPool.shared(["http://127.0.0.1:9"]) is a
