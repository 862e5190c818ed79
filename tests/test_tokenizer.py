"""BPETokenizer: special ids, BaseTokenizer's padding/truncation rule, round trips, persistence."""
import random
import time

import pytest
import torch

from mammut_det.registry import TOKENIZERS
from mammut_det.text import BPETokenizer

WORDS = ('a cat dog person sitting standing on in under the red green blue small large car '
         'bicycle table chair photo of with two three playing running street park').split()


def _captions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [' '.join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + '.' for _ in range(n)]


@pytest.fixture(scope='module')
def tok(tmp_path_factory) -> BPETokenizer:
    path = tmp_path_factory.mktemp('bpe') / 'tokenizer.json'
    texts = _captions(500) + ['Café naïve 日本語 😀 Ünïcödé']
    return BPETokenizer.train(texts, vocab_size=300, save_path=str(path), context_length=16)


def test_special_ids_and_vocab(tok):
    assert (tok.pad_id, tok.sot_id, tok.eot_id) == (0, 1, 2)
    assert 259 <= tok.vocab_size <= 300  # 3 specials + 256 bytes + merges
    ids = tok('a cat on the table.')[0].tolist()
    n = tok.num_tokens('a cat on the table.')
    assert ids[0] == 1 and ids[n - 1] == 2 and ids[n:] == [0] * (16 - n)
    assert all(i > 2 for i in ids[1:n - 1])


def test_padding_and_truncation_rule(tok):
    short, long = 'a cat', ' '.join(['bicycle street'] * 30)
    out = tok([short, long])
    assert out.shape == (2, 16) and out.dtype == torch.long
    body = tok.encode_batch([long])[0]
    assert len(body) > 16
    expected = [1, *body[:14], 2]  # first context_length ids of start+body+end, last set to end
    assert out[1].tolist() == expected
    body_short = tok.encode_batch([short])[0]
    assert out[0].tolist() == [1, *body_short, 2] + [0] * (16 - len(body_short) - 2)


def test_round_trip_and_cleaning(tok):
    for text in ['a red car in the park.', 'two   people\tPLAYING\n in the Street ',
                 'Café naïve 日本語 😀', 'punctuation, quotes "x" & <end> literal!']:
        ids = tok(text)[0].tolist()
        if tok.num_tokens(text) <= tok.context_length:
            assert tok.decode(ids) == ' '.join(text.split()).lower()
    # a literal '<end>' in a caption is text, never the special id
    assert 2 not in tok.encode_batch(['<end> <pad> <start>'])[0]


def test_decode_stops_at_end(tok):
    a = tok.encode_batch(['a cat'])[0]
    b = tok.encode_batch(['a dog'])[0]
    assert tok.decode([1, *a, 2, *b, 2, 0, 0]) == 'a cat'
    assert tok.decode([1, *a, 0, 0]) == 'a cat'


def test_unicode_bytes_always_encodable(tok):
    text = 'ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ 🦜 ਪੰਜਾਬੀ'  # none of these appear in training
    ids = tok.encode_batch([text])[0]
    assert len(ids) >= len(text.encode('utf-8')) // 2
    assert tok.decode(ids) == text.lower()


def test_empty_string(tok):
    assert tok.encode_batch(['', '   ']) == [[], []]
    assert tok('')[0].tolist() == [1, 2] + [0] * 14
    assert tok.decode(tok('')[0].tolist()) == ''


def test_batch_speed(tok):
    texts = _captions(20000, seed=1)
    t0 = time.perf_counter()
    out = tok(texts)
    elapsed = time.perf_counter() - t0
    assert out.shape == (20000, 16)
    assert elapsed < 5.0, f'20000 captions took {elapsed:.2f}s'


def test_train_save_load_identical(tok, tmp_path):
    texts = _captions(200, seed=2)
    loaded = BPETokenizer(tok.path, context_length=16)
    assert torch.equal(loaded(texts), tok(texts))
    built = TOKENIZERS.build(dict(type='BPETokenizer', path=tok.path, context_length=16))
    assert torch.equal(built(texts), tok(texts))
    # training twice on the same corpus is deterministic
    again = BPETokenizer.train(_captions(500) + ['Café naïve 日本語 😀 Ünïcödé'], 300,
                               str(tmp_path / 'again.json'), context_length=16)
    assert torch.equal(again(texts), tok(texts))


def test_missing_file_error(tmp_path):
    path = str(tmp_path / 'nope' / 'tokenizer.json')
    with pytest.raises(FileNotFoundError, match='BPETokenizer.train') as err:
        BPETokenizer(path)
    assert path in str(err.value)


def test_meta_rebuilds_the_tokenizer_without_its_file(tok, tmp_path):
    from mammut_det.engine import restore_tokenizers
    meta = tok.to_meta()
    with open(tok.path, encoding='utf-8') as f:
        assert meta == dict(type='BPETokenizer', content=f.read())
    gone = str(tmp_path / 'deleted.json')
    cfg = dict(tokenizer=dict(type='BPETokenizer', path=gone, context_length=16))
    assert restore_tokenizers(cfg, {}) == []  # nothing stored: left to fail as before
    assert restore_tokenizers(cfg, {'tokenizers': {'tokenizer': meta}}) == ['tokenizer']
    rebuilt = TOKENIZERS.build(cfg['tokenizer'])
    texts = _captions(100, seed=3)
    assert torch.equal(rebuilt(texts), tok(texts)) and rebuilt.vocab_size == tok.vocab_size
    present = dict(tokenizer=dict(type='BPETokenizer', path=tok.path, context_length=16))
    assert restore_tokenizers(present, {'tokenizers': {'tokenizer': meta}}) == []
