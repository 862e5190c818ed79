"""WebCaptionDataset and tools/make_shards.py: packing round trip, bad members skipped and counted,
seeded shuffling, reader splitting with equal epochs, resampling weights, sample-exact restore."""
from __future__ import annotations

import importlib.util
import io
import json
import tarfile
import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader, IterableDataset

from mammut_det import compat
from mammut_det.datasets import CaptionDataset, WebCaptionDataset, make_toy_captions
from mammut_det.datasets.shards import REASONS, StreamInfo

ROOT = Path(__file__).resolve().parents[1]


def load_make_shards():
    spec = importlib.util.spec_from_file_location('make_shards', ROOT / 'tools' / 'make_shards.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png(value: int, size: int = 8) -> bytes:
    return cv2.imencode('.png', np.full((size, size, 3), value, np.uint8))[1].tobytes()


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A tar written with the standard library (not webdataset), members in the given order."""
    with tarfile.open(path, 'w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def good(key: str, value: int = 100) -> list[tuple[str, bytes]]:
    return [(f'{key}.png', png(value)), (f'{key}.txt', f'caption of {key}'.encode())]


def write_shards(folder: Path, sizes: list[int], prefix: str = '') -> list[str]:
    """Shards ``{prefix}{i:05d}.tar`` of good samples keyed ``{prefix}s{i}x{j}`` + sizes.json."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, n in enumerate(sizes):
        names.append(f'{prefix}{i:05d}.tar')
        write_tar(folder / names[-1],
                  [m for j in range(n) for m in good(f'{prefix}s{i}x{j}', (i * 10 + j) % 250)])
    sizes_file = folder / 'sizes.json'
    known = json.loads(sizes_file.read_text()) if sizes_file.exists() else {}
    sizes_file.write_text(json.dumps({**known, **dict(zip(names, sizes))}))
    return [str(folder / n) for n in names]


def stream(dataset, n: int) -> list[StreamInfo]:
    """The ``stream`` info of the first ``n`` samples of the main-process reader."""
    it = iter(dataset)
    return [next(it)['stream'] for _ in range(n)]


def keys(infos: list[StreamInfo]) -> list[str]:
    return [i.key for i in infos]


# ---------------------------------------------------------------- tools/make_shards.py


def test_make_shards_round_trip_keeps_every_sample_once_with_its_bytes(tmp_path):
    data = tmp_path / 'toy'
    make_toy_captions(str(data), num_train=25, num_val=1, size=32, seed=2)
    out = tmp_path / 'shards'
    make_shards = load_make_shards()
    make_shards.main([str(data / 'train.jsonl'), str(out), '--shard-size', '10'])

    samples: dict[str, dict[str, bytes]] = {}
    per_shard = {}
    for tar_path in sorted(out.glob('*.tar')):
        with tarfile.open(tar_path) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            for m in members:
                key, ext = m.name.split('.', 1)
                samples.setdefault(key, {})[ext] = tar.extractfile(m).read()
        per_shard[tar_path.name] = len({m.name.split('.')[0] for m in members})
    assert per_shard == {'00000.tar': 10, '00001.tar': 10, '00002.tar': 5}
    assert json.loads((out / 'sizes.json').read_text()) == per_shard

    lines = [json.loads(ln) for ln in (data / 'train.jsonl').read_text().splitlines()]
    assert len(samples) == len(lines) == 25
    for line_no, line in enumerate(lines, start=1):
        matches = [k for k, s in samples.items()
                   if json.loads(s['json'])['source'].endswith(f'train.jsonl:{line_no}')]
        assert len(matches) == 1, line_no
        sample = samples[matches[0]]
        assert set(sample) == {'png', 'txt', 'json'}
        assert sample['txt'].decode() == line['caption']
        assert sample['png'] == (data / line['image']).read_bytes()

    with pytest.raises(SystemExit, match='already holds shards'):
        make_shards.main([str(data / 'train.jsonl'), str(out), '--shard-size', '10'])
    make_shards.main([str(data / 'train.jsonl'), str(out), '--shard-size', '25', '--overwrite'])
    assert sorted(p.name for p in out.glob('*.tar')) == ['00000.tar']


def test_make_shards_reports_bad_lines_like_caption_dataset(tmp_path, log_records):
    cv2.imwrite(str(tmp_path / 'a.jpg'), np.full((6, 6, 3), 9, np.uint8))
    ann = tmp_path / 'caps.csv'
    ann.write_text('image,caption\na.jpg,a grey square\nmissing.jpg,gone\na.jpg,\n')
    make_shards = load_make_shards()
    with pytest.raises(FileNotFoundError, match=r'caps.csv:3: image file not found'):
        make_shards.main([str(ann), str(tmp_path / 'out')])
    make_shards.main([str(ann), str(tmp_path / 'out'), '--skip-bad'])
    assert any('caps.csv:3' in r for r in log_records)
    assert any('caps.csv:4: empty caption' in r for r in log_records)
    with tarfile.open(tmp_path / 'out' / '00000.tar') as tar:
        assert sorted(tar.getnames()) == ['000000000.jpg', '000000000.json', '000000000.txt']
        assert tar.extractfile('000000000.jpg').read() == (tmp_path / 'a.jpg').read_bytes()


# ---------------------------------------------------------------- bad samples


def test_bad_members_are_skipped_and_counted_never_raised(tmp_path, log_records):
    # shard 0: a good sample, then a member cut off in the middle of its data
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    write_tar(tmp_path / 'cut.tar',
              good('h') + [('i.png', cv2.imencode('.png', noise)[1].tobytes())])
    raw = (tmp_path / 'cut.tar').read_bytes()
    (tmp_path / 'cut.tar').write_bytes(raw[:512 * 6])  # headers + h's members + part of i.png
    # shard 1: every kind of bad sample, then two good ones
    write_tar(tmp_path / 'bad.tar', [
        ('c.jpg', b'not an image at all'), ('c.txt', b'undecodable image'),
        ('m.jpg', b''), ('m.txt', b'empty image'),
        ('d.txt', b'a caption without image'),
        ('e.png', png(3)),
        ('f.png', png(4)), ('f.txt', b'   '),
        ('g.png', png(5)), ('g.txt', b'bad json'), ('g.json', b'{"oops":'),
        ('k.png', png(6)), ('k.txt', b'\xff\xfe not utf-8'),
        *good('a'), *good('b')])
    ds = WebCaptionDataset([str(tmp_path / 'cut.tar'), str(tmp_path / 'bad.tar')], num_samples=3,
                           seed=0, shuffle_shards=False, shuffle_buffer=0)
    infos = stream(ds, 3)
    assert keys(infos) == ['h', 'a', 'b']
    assert infos[0].shard.endswith('cut.tar')
    assert infos[-1].skipped == dict(no_image=1, no_caption=3, bad_image=2, bad_json=1,
                                        bad_tar=infos[-1].skipped['bad_tar'], filtered=0)
    assert infos[-1].skipped['bad_tar'] >= 1
    assert infos[-1].position == 10  # 10 samples taken from the tars, 3 of them good
    for key, reason in [('c', 'bad_image'), ('m', 'bad_image'), ('d', 'no_image'),
                        ('e', 'no_caption'), ('f', 'no_caption'), ('g', 'bad_json'),
                        ('k', 'no_caption')]:
        assert any(f"sample '{key}'" in r and f'[{reason};' in r for r in log_records), key
    assert any('unreadable tar data' in r and 'cut.tar' in r for r in log_records)


def test_a_reader_whose_shards_give_nothing_stops_with_their_names(tmp_path):
    (tmp_path / 'junk.tar').write_bytes(b'\0' * 10 + b'garbage' * 100)
    ds = WebCaptionDataset(str(tmp_path / 'junk.tar'), num_samples=5, seed=0)
    with pytest.raises(RuntimeError, match='junk.tar'):
        stream(ds, 1)
    write_tar(tmp_path / 'bad.tar', [m for i in range(4) for m in [(f'x{i}.jpg', b'no')]])
    ds = WebCaptionDataset(str(tmp_path / 'bad.tar'), num_samples=5, seed=0, shuffle_buffer=0,
                           max_consecutive_bad=3)
    with pytest.raises(RuntimeError, match='3 bad samples in a row'):
        stream(ds, 1)


def test_images_are_bgr_arrays_and_the_pipeline_runs(tmp_path):
    img = np.zeros((6, 10, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    lossless = cv2.imencode('.webp', img, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    write_tar(tmp_path / 'a.tar', [('x.webp', lossless), ('x.txt', b' a red block '),
                                   ('x.json', b'{"url": "u"}')])
    ds = WebCaptionDataset(str(tmp_path / 'a.tar'), num_samples=1, seed=0, pipeline=[
        dict(type='RandomFlip', prob=1.0, direction='horizontal'), dict(type='PackCaptionInputs')])
    out = next(iter(ds))
    assert out['inputs'].shape == (3, 6, 10) and out['inputs'].dtype == torch.uint8
    assert out['inputs'][2].float().mean() == pytest.approx(200, abs=2)
    assert out['inputs'][0].float().mean() == pytest.approx(0, abs=2)
    meta = out['data_samples'].metainfo
    assert meta['caption'] == 'a red block' and meta['flip'] is True
    assert meta['stream'].key == 'x' and meta['stream'].shard.endswith('a.tar')
    raw = next(iter(WebCaptionDataset(str(tmp_path / 'a.tar'), num_samples=1, seed=0)))
    assert raw['json'] == {'url': 'u'} and raw['ori_shape'] == (6, 10)


# ---------------------------------------------------------------- shard lists and epoch length


def test_shard_lists_patterns_and_sizes(tmp_path):
    urls = write_shards(tmp_path / 'd', [3, 4, 5])
    (tmp_path / 'list.txt').write_text('# my shards\nd/00000.tar\n\nd/{00001..00002}.tar\n')
    for spec in [str(tmp_path / 'd' / '{00000..00002}.tar'), urls, str(tmp_path / 'list.txt')]:
        ds = WebCaptionDataset(spec, seed=0)
        assert ds.shards == urls and ds.num_samples == 12 and len(ds) == 12
    ds = WebCaptionDataset('{00000..00001}.tar', data_root=str(tmp_path / 'd'), seed=0)
    assert ds.shards == urls[:2] and ds.num_samples == 7
    assert WebCaptionDataset(urls, seed=0, num_samples=5).num_samples == 5
    with pytest.raises(FileNotFoundError, match=r'1 of 4 shards do not exist'):
        WebCaptionDataset(str(tmp_path / 'd' / '{00000..00003}.tar'), seed=0)
    (tmp_path / 'd' / 'sizes.json').write_text('{"00000.tar": 3}')
    with pytest.raises(KeyError, match='no entry for the shard 00001.tar'):
        WebCaptionDataset(urls, seed=0)
    (tmp_path / 'd' / 'sizes.json').unlink()
    with pytest.raises(ValueError, match='give num_samples'):
        WebCaptionDataset(urls, seed=0)


# ---------------------------------------------------------------- order, readers, resampling


def test_seeded_shuffle_is_reproducible_and_differs_per_epoch(tmp_path):
    urls = write_shards(tmp_path, [10, 10, 10, 10])
    everything = sorted(keys(stream(WebCaptionDataset(urls, seed=0, shuffle_shards=False,
                                                      shuffle_buffer=0), 40)))
    run = stream(WebCaptionDataset(urls, seed=5, shuffle_buffer=8, shuffle_initial=4), 120)
    again = stream(WebCaptionDataset(urls, seed=5, shuffle_buffer=8, shuffle_initial=4), 120)
    assert keys(run) == keys(again)
    epochs = [keys(run[i:i + 40]) for i in (0, 40, 80)]
    assert [info.epoch for info in run[::40]] == [0, 1, 2]
    for epoch in epochs:
        assert sorted(epoch) == everything  # each epoch is every sample once
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]
    other = stream(WebCaptionDataset(urls, seed=6, shuffle_buffer=8, shuffle_initial=4), 40)
    assert keys(other) != epochs[0]


def test_workers_read_disjoint_shards_and_equal_epochs(tmp_path):
    urls = write_shards(tmp_path, [10, 10, 10, 10])
    ds = WebCaptionDataset(urls, seed=1, shuffle_buffer=4, shuffle_initial=2)
    loader = DataLoader(ds, batch_size=5, num_workers=2, collate_fn=pseudo_collate)
    by_worker: dict[int, list[str]] = {0: [], 1: []}
    batches = iter(loader)
    for _ in range(8):  # one epoch: 2 workers x 20 samples
        batch = next(batches)
        workers = {i.worker for i in batch['stream']}
        assert len(workers) == 1  # a batch comes from one reader
        by_worker[workers.pop()] += keys(batch['stream'])
    assert len(by_worker[0]) == len(by_worker[1]) == 20
    assert not set(by_worker[0]) & set(by_worker[1])
    assert len(set(by_worker[0]) | set(by_worker[1])) == 40
    del batches

    # unequal shards: both readers still yield num_samples // 2 per epoch
    uneven = write_shards(tmp_path / 'uneven', [10, 10, 10, 4])
    ds = WebCaptionDataset(uneven, seed=1, shuffle_buffer=0)
    counts = Counter()
    for batch in DataLoader(ds, batch_size=1, num_workers=2, collate_fn=pseudo_collate):
        info = batch['stream'][0]
        if info.epoch > 0:
            break
        counts[info.worker] += 1
    assert counts == {0: 17, 1: 17}


def test_fewer_shards_than_readers_is_a_clear_error(tmp_path):
    urls = write_shards(tmp_path, [10])
    loader = DataLoader(WebCaptionDataset(urls, seed=0), batch_size=2, num_workers=2,
                        collate_fn=pseudo_collate)
    with pytest.raises(ValueError, match=r'1 shards cannot be split among 2 readers'):
        next(iter(loader))


def test_resampled_mode_draws_sources_in_proportion_to_weights(tmp_path):
    a = write_shards(tmp_path / 'a', [5], prefix='a')
    b = write_shards(tmp_path / 'b', [5, 5, 5], prefix='b')
    a_pattern = str(tmp_path / 'a' / 'a00000.tar')
    b_pattern = str(tmp_path / 'b' / 'b{00000..00002}.tar')
    for weights, want in [(None, 1 / 4), ((3.0, 1.0), 1 / 2), ((1.0, 3.0), 1 / 10)]:
        # open_clip's rule, computed here: a shard's chance is its source's weight, so source A
        # (1 shard) gets w_a / (w_a + 3 w_b) of the draws
        ds = WebCaptionDataset([a_pattern, b_pattern], resampled=True, weights=weights,
                               num_samples=2000, seed=3, shuffle_buffer=0)
        infos = stream(ds, 2000)
        share = np.mean([i.shard.endswith('a00000.tar') for i in infos])
        assert share == pytest.approx(want, abs=0.06), weights
    assert keys(stream(ds, 20)) == keys(stream(ds, 20))  # a fresh iterator repeats the draws
    with pytest.raises(ValueError, match='resampled=True'):
        WebCaptionDataset([a_pattern, b_pattern], weights=(1, 1), num_samples=10)
    with pytest.raises(ValueError, match='one non-negative weight per source'):
        WebCaptionDataset([a_pattern, b_pattern], resampled=True, weights=(1,), num_samples=10)
    assert set(a + b) == set(WebCaptionDataset([a_pattern, b_pattern], seed=0).shards)


# ---------------------------------------------------------------- resume


def test_restore_continues_the_stream_exactly_with_bad_samples_before_it(tmp_path):
    urls = write_shards(tmp_path, [6, 6])
    write_tar(tmp_path / '00002.tar', [('z.jpg', b'broken'), ('z.txt', b'x'),
                                       ('y.txt', b'no image'), *good('w')])
    urls.append(str(tmp_path / '00002.tar'))

    def make() -> WebCaptionDataset:
        return WebCaptionDataset(urls, num_samples=13, seed=4, shuffle_buffer=5,
                                 shuffle_initial=3)

    whole = stream(make(), 30)  # 2 epochs and a bit
    for stop in (1, 7, 13, 20):
        resumed = make()
        resumed.restore(seed=4, readers={0: whole[stop - 1].state()}, first_reader=0, num_workers=1)
        rest = stream(resumed, 30 - stop)
        assert keys(rest) == keys(whole[stop:]), stop
        assert rest[-1].skipped == whole[-1].skipped  # counted once, not again
    assert whole[-1].skipped['bad_image'] == 2 and whole[-1].skipped['no_image'] == 2
    assert set(whole[-1].skipped) == set(REASONS)


def test_endless_stream_length_warning_is_quieted_for_this_dataset_only(tmp_path):
    class Endless(IterableDataset):
        def __len__(self) -> int:
            return 2

        def __iter__(self):
            while True:
                yield 0

    urls = write_shards(tmp_path, [2])
    compat.quiet_endless_stream_length_warning()
    for dataset, should_warn in [(Endless(), True), (WebCaptionDataset(urls, seed=0), False)]:
        loader = DataLoader(dataset, batch_size=1, collate_fn=pseudo_collate)
        assert len(loader) == 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('default')
            compat.quiet_endless_stream_length_warning()
            it = iter(loader)
            for _ in range(4):
                next(it)
        warned = any('Length of IterableDataset' in str(w.message) for w in caught)
        assert warned == should_warn, ('torch no longer warns for endless iterable datasets: '
                                       'drop quiet_endless_stream_length_warning'
                                       if should_warn else 'the warning is not quieted')


def test_caption_dataset_and_shards_give_the_same_pipeline_inputs(tmp_path):
    data = tmp_path / 'toy'
    make_toy_captions(str(data), num_train=4, num_val=1, size=32, seed=3)
    load_make_shards().main([str(data / 'train.jsonl'), str(tmp_path / 's')])
    files = CaptionDataset(ann_file=str(data / 'train.jsonl'),
                           pipeline=[dict(type='LoadImageFromFile')])
    shards = WebCaptionDataset(str(tmp_path / 's' / '00000.tar'), seed=0, shuffle_shards=False,
                               shuffle_buffer=0)
    it = iter(shards)
    for i in range(4):
        want, got = files[i], next(it)
        assert got['caption'] == want['caption']
        np.testing.assert_array_equal(got['img'], want['img'])
        assert got['img_shape'] == want['img_shape'] and got['ori_shape'] == want['ori_shape']
