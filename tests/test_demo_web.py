"""The web demo end to end: tools/demo_web.py serves the tiny detector on a free port, headless
Chromium (Debian's, driven by Playwright) uploads a generated image, types two class names, sets
the score threshold and reads the boxes the page shows, which must be those OVDetInferencer gives
for the same image, vocabulary and threshold. Needs Debian's Chromium: `bash tools/run_tests.sh`
installs it (tools/install_browser.sh)."""
import json
import os
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from playwright import sync_api

from mammut_det.apis import OVDetInferencer

from .conftest import ROOT

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update']
NAMES = 'red square, green circle'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(tiny_detector):
    """tools/demo_web.py on a free port; its URL once it answers."""
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS='1', GRADIO_ANALYTICS_ENABLED='False')
    # an embedding cache of its own, so that what the page says it computed is its own work
    options = dict(tiny_detector['options'], **{
        'model.class_embedder.cache_dir': str(tiny_detector['tmp'] / 'web_embeddings')})
    log = open(tiny_detector['tmp'] / 'demo_web.log', 'w+')
    proc = subprocess.Popen(
        [sys.executable, 'tools/demo_web.py', tiny_detector['config'], tiny_detector['checkpoint'],
         '--port', str(port), '--device', 'cpu', '--cfg-options',
         *(f'{k}={v}' for k, v in options.items())],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            break
        except OSError:
            log.seek(0)
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f'demo server did not start:\n{log.read()[-3000:]}')
            time.sleep(0.5)
    yield f'http://127.0.0.1:{port}/'
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _scene(path: str) -> None:
    img = np.full((100, 140, 3), 120, np.uint8)
    cv2.rectangle(img, (8, 10), (60, 55), (40, 40, 220), -1)
    cv2.circle(img, (100, 70), 22, (60, 200, 60), -1)
    cv2.imwrite(path, img)


def _shown_boxes(page) -> list[dict]:
    """The JSON the page shows under "Boxes" (rendered one token a line)."""
    text = page.inner_text('#boxes .json-holder')
    return json.loads(''.join(text.split('\n')))


def _answer(page, names: str, threshold: float) -> tuple[list[dict], str]:
    """Wait for the answer to a request with ``names`` and ``threshold``; (boxes, status)."""
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)",
                           arg=f'above {threshold:g} for {names} (', timeout=120_000)
    page.wait_for_function("!document.querySelector('#boxes').innerText.includes('processing')")
    return _shown_boxes(page), page.inner_text('#status')


def _move_threshold(page, threshold: float) -> None:
    """Type the threshold into the slider's number box (Enter commits it)."""
    page.fill('#score_thr input[type=number]', str(threshold))
    page.press('#score_thr input[type=number]', 'Enter')


def _assert_same(shown: list[dict], want: dict) -> None:
    assert [b['label'] for b in shown] == want['label_names']
    np.testing.assert_allclose([b['score'] for b in shown], want['scores'], atol=6e-5)
    np.testing.assert_allclose([b['box'] for b in shown], want['bboxes'], atol=6e-3)


@pytest.mark.slow
def test_page_shows_the_boxes_the_inferencer_gives(server, tiny_detector, tmp_path):
    image = str(tmp_path / 'scene.png')
    _scene(image)
    reference = OVDetInferencer(tiny_detector['config'], tiny_detector['checkpoint'],
                                device='cpu', vocabulary=[n.strip() for n in NAMES.split(',')],
                                cfg_options=tiny_detector['options'], show_progress=False)
    everything = reference(image, score_thr=0.0)['predictions'][0]
    # two thresholds that keep a readable number of boxes, the second fewer than the first
    counts = {t: sum(s > t for s in everything['scores']) for t in np.arange(0.05, 1.0, 0.05)}
    low = min(round(t, 2) for t, n in counts.items() if n <= 40)
    high = max(round(t, 2) for t, n in counts.items() if 0 < n < counts[low])
    want_low = reference(image, score_thr=low)['predictions'][0]
    want_high = reference(image, score_thr=high)['predictions'][0]
    assert 0 < len(want_high['scores']) < len(want_low['scores']) <= 40

    requests = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on('request', lambda r: requests.append(r.url))
        page.goto(server)
        page.wait_for_selector('#detect')
        page.set_input_files('#input_image input[type=file]', image)
        page.wait_for_selector('#input_image img')
        page.fill('#class_names textarea', NAMES)
        page.click('#detect')  # each step below sends one request
        _, status = _answer(page, NAMES, 0.3)  # the threshold tools/demo_web.py starts with
        assert status.endswith('(embeddings computed)')

        _move_threshold(page, low)  # filters the kept detections: no model run, no text pass
        shown, status = _answer(page, NAMES, low)
        _assert_same(shown, want_low)
        assert set(b['label'] for b in shown) <= {'red square', 'green circle'}
        assert status == f'{len(shown)} boxes scoring above {low:g} for {NAMES} (embeddings ' \
                         'from the cache)'
        assert page.locator('#drawing img').count() == 1

        _move_threshold(page, high)
        shown, status = _answer(page, NAMES, high)
        _assert_same(shown, want_high)

        page.fill('#class_names textarea', 'cat, dog')
        page.press('#class_names textarea', 'Enter')
        _, status = _answer(page, 'cat, dog', high)
        assert status.endswith('(embeddings computed)')
        page.fill('#class_names textarea', NAMES)
        page.click('#detect')
        shown, status = _answer(page, NAMES, high)  # a vocabulary seen before: from the cache
        _assert_same(shown, want_high)
        assert status.endswith('(embeddings from the cache)')
        browser.close()
    hosts = {url.split('/')[2] for url in requests if url.startswith('http')}
    assert hosts == {server.split('/')[2]}  # the page fetched nothing from elsewhere


def test_session_keeps_detections_per_image_and_checks_names(tiny_detector, tmp_path):
    """Without a browser: a new threshold on the same image and names filters the kept
    detections (no forward pass); a new image runs the model; bad names name the entry."""
    from mammut_det.apis.web_demo import DetectionSession
    inferencer = OVDetInferencer(tiny_detector['config'], tiny_detector['checkpoint'],
                                 device='cpu', cfg_options=tiny_detector['options'],
                                 show_progress=False)
    session = DetectionSession(inferencer)
    path = str(tmp_path / 'scene.png')
    _scene(path)
    rgb = cv2.imread(path)[:, :, ::-1]
    forwards = []
    hook = inferencer.model.backbone.register_forward_hook(lambda *_: forwards.append(1))
    try:
        drawing, boxes, _ = session.detect(rgb, NAMES, 0.2)
        assert drawing.shape == rgb.shape and len(forwards) == 1
        _, fewer, _ = session.detect(rgb, NAMES, 0.5)
        assert len(forwards) == 1
        assert fewer == [b for b in boxes if b['score'] > 0.5] and len(fewer) < len(boxes)
        session.detect(np.ascontiguousarray(rgb[::-1]), NAMES, 0.5)
        assert len(forwards) == 2
    finally:
        hook.remove()
    with pytest.raises(ValueError, match='class names: entry 1 is empty'):
        session.detect(rgb, 'cat, , dog', 0.5)
    with pytest.raises(ValueError, match="class names: class name 'cat' repeats"):
        session.detect(rgb, 'cat, dog, cat', 0.5)
