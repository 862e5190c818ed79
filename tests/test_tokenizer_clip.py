"""CLIPTokenizer against a plain re-implementation of the documented algorithm (OPENMAMMUT.md) on a
small generated vocabulary, and on the real vocabulary (open_clip_torch, installed --no-deps)
against known ids and open_clip's own SimpleTokenizer."""
import gzip
import hashlib
import html
import importlib.metadata
import importlib.util
import os
import random
import sys
import time

import ftfy
import pytest
import regex
import torch

from mammut_det.registry import TOKENIZERS
from mammut_det.text import CLIPTokenizer, find_clip_vocab

#: sha256 of CLIP's bpe_simple_vocab_16e6.txt.gz as open_clip_torch 3.3.0 ships it
VOCAB_SHA256 = '924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a'
MERGES = [('t', 'h'), ('th', 'e</w>'), ('c', 'a'), ('ca', 't</w>'), ('d', 'o'), ('do', 'g</w>'),
          ('o', 'n</w>'), ('i', 'n'), ('in', 'g</w>'), ('a', 'n'), ('an', 'd</w>'), ('p', 'h'),
          ('ph', 'o'), ('t', 'o</w>'), ('pho', 'to</w>'), ('t', 'o'), ('pho', 'to'),
          ('e', 'r</w>'), ('a', 'a'), ('aa', 'a'), ('o', 'f</w>'), ('e', 's</w>'), ("'", 's</w>'),
          ('Ã', '©'), ('Ã', '©</w>'), ('1', '2'), ('x', 'x')]
STRINGS = [
    'a photo of the cat.', 'The DOG and THE CAT', 'Hello, World!', '', '   ', 'wow!?',
    "it's the dog's bone; they're here", "I'LL GO, we'd've", 'Café naïve résumé', '日本語',
    'emoji 😀🦜 test', 'ﬁnancial ﬂow', 'Tom &amp; Jerry', '&amp;lt;b&amp;gt; bold', '&lt;b&gt;',
    'x &#39;quoted&#39; y', 'numbers 12345 and 3.14159', 'hyphen-ated under_score',
    'tabs\tand\nnewlines\r\n', 'ÃƒÂ© mojibake Ã©', '<start_of_text> inside', 'x<end_of_text>y',
    '<<start_of_text>', '<START_OF_TEXT>', ' '.join(['photo'] * 100), 'aaaaaaaaaaaaa aaaa',
    'e-mail: someone@example.com', '«quotes» „low“ ‘single’', 'İstanbul ǅemal', "'''s ''t",
    '!!!!????....', 'Ελληνικά Русский العربية हिन्दी 한국어', '\u200bzero\u200bwidth', 'ſtraße',
    'x\u0301 combining', '   leading and trailing   ', '½ ¼ ² ³ $100 €50', 'ctrl\x07char\x0bvt',
]


# ---- a plain reference implementation, written from the documentation --------------------------
def ref_byte_symbols() -> dict[int, str]:
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}
    table.update({b: chr(256 + n) for n, b in enumerate(others)})
    return dict(sorted(table.items(), key=lambda kv: (kv[0] not in printable, printable.index(kv[0])
                                                     if kv[0] in printable else kv[0])))


REF_PATTERN = regex.compile(r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|"""
                            r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)


class RefTokenizer:
    def __init__(self, merges):
        self.byte = ref_byte_symbols()
        symbols = list(self.byte.values())
        vocab = symbols + [s + '</w>' for s in symbols] + [a + b for a, b in merges]
        vocab += ['<start_of_text>', '<end_of_text>']
        self.ids = {}
        for i, token in enumerate(vocab):
            self.ids.setdefault(token, i)
        self.ranks = {}
        for r, pair in enumerate(merges):
            self.ranks.setdefault(pair, r)

    def bpe(self, word: str) -> list[str]:
        parts = list(word[:-1]) + [word[-1] + '</w>']
        while len(parts) > 1:
            ranked = [(self.ranks.get(p, float('inf')), p) for p in zip(parts, parts[1:])]
            rank, best = min(ranked, key=lambda x: x[0])
            if rank == float('inf'):
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def encode(self, text: str) -> list[int]:
        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        text = regex.sub(r'\s+', ' ', text).strip().lower()
        out = []
        for word in REF_PATTERN.findall(text):
            if word in ('<start_of_text>', '<end_of_text>'):
                out.append(self.ids[word])
                continue
            mapped = ''.join(self.byte[b] for b in word.encode('utf-8'))
            out += [self.ids[t] for t in self.bpe(mapped)]
        return out

    def __call__(self, text: str, context: int) -> list[int]:
        seq = [self.ids['<start_of_text>'], *self.encode(text), self.ids['<end_of_text>']]
        if len(seq) > context:
            seq = seq[:context - 1] + [self.ids['<end_of_text>']]
        return seq + [0] * (context - len(seq))


# ---- fixtures --------------------------------------------------------------------------------
def write_vocab(path, merges) -> str:
    with gzip.open(path, 'wt', encoding='utf-8') as f:
        f.write('"bpe_simple_vocab_test" header\n')
        f.write(''.join(f'{a} {b}\n' for a, b in merges))
    return str(path)


@pytest.fixture(scope='module')
def vocab_path(tmp_path_factory) -> str:
    return write_vocab(tmp_path_factory.mktemp('clip') / 'vocab.txt.gz', MERGES)


@pytest.fixture(scope='module')
def tok(vocab_path) -> CLIPTokenizer:
    return CLIPTokenizer(vocab_path, context_length=24)


def random_strings(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = list("the cat dog photo of and aaaa THE 123 .,!?&;'") + ['&amp;', ' ', '\n']
    alphabet += [chr(rng.randint(160, 0x2FFF)) for _ in range(30)] + ['😀', '日', 'é', 'Ã©']
    return [''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(n)]


# ---- tests --------------------------------------------------------------------------------
def test_ids_match_reference(tok):
    ref = RefTokenizer(MERGES)
    strings = STRINGS + random_strings(300, seed=0)
    out = tok(strings)
    assert out.shape == (len(strings), 24)
    for text, row in zip(strings, out.tolist()):
        assert row == ref(text, 24), text
    # a real merge chain happened, so BPE (not only byte symbols) is exercised
    assert tok.encode_batch(['the photo'])[0] == [ref.ids['the</w>'], ref.ids['photo</w>']]


def test_special_ids_and_rules(tok):
    n = 512 + len(MERGES)
    assert (tok.sot_id, tok.eot_id, tok.pad_id) == (n, n + 1, 0) and tok.vocab_size == n + 2
    assert tok('')[0].tolist() == [n, n + 1] + [0] * 22
    long = tok(' '.join(['photo'] * 100))[0].tolist()
    assert long[0] == n and long[-1] == n + 1 and long[1:-1] == [tok.encoder['photo</w>']] * 22
    # a word that is exactly the start/end marker maps to the special id, as upstream does
    assert tok.encode_batch(['x <end_of_text> y'])[0][1] == n + 1
    assert tok.num_tokens('the cat') == 4


def test_decode(tok):
    assert tok.decode(tok('A photo of THE cat.')[0].tolist()) == 'a photo of the cat .'
    assert tok.decode(tok('Café 日本 😀')[0].tolist()) == 'café 日本 😀'
    ids = tok('wow!?')[0].tolist()
    e = tok.encoder
    assert ids[1:6] == [e['w'], e['o'], e['w</w>'], 0, e['?</w>']]  # '!' in a word is 0, the pad
    assert tok.decode(ids) == 'wow !?'
    assert tok.decode([tok.sot_id, *tok.encode_batch(['the dog'])[0], tok.eot_id,
                       tok.encoder['cat</w>']]) == 'the dog'


def test_cache_gives_same_ids(vocab_path):
    small = CLIPTokenizer(vocab_path, context_length=24)
    small.cache_size = 5
    strings = random_strings(200, seed=1)
    assert torch.equal(small(strings), small(strings))
    assert torch.equal(small(strings), CLIPTokenizer(vocab_path, context_length=24)(strings))


def test_speed(tok):
    words = ['the', 'cat', 'dog', 'photo', 'of', 'and', 'on', 'running', 'green', 'table']
    rng = random.Random(2)
    texts = [' '.join(rng.choice(words) for _ in range(12)) + f' {i}.' for i in range(5000)]
    t0 = time.perf_counter()
    tok(texts)
    assert time.perf_counter() - t0 < 3.0


def test_vocab_lookup_without_importing_open_clip(tmp_path, monkeypatch):
    package = tmp_path / 'site' / 'open_clip'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('raise ImportError("open_clip must not be imported")\n')
    write_vocab(package / 'bpe_simple_vocab_16e6.txt.gz', MERGES)
    monkeypatch.syspath_prepend(str(tmp_path / 'site'))
    monkeypatch.delitem(sys.modules, 'open_clip', raising=False)
    assert find_clip_vocab() == str(package / 'bpe_simple_vocab_16e6.txt.gz')
    built = TOKENIZERS.build(dict(type='CLIPTokenizer'))
    assert built.vocab_size == 512 + len(MERGES) + 2
    assert 'open_clip' not in sys.modules


def test_missing_vocab_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.txt.gz'):
        CLIPTokenizer(str(tmp_path / 'nope.txt.gz'))
    bad = tmp_path / 'bad.txt.gz'
    with gzip.open(bad, 'wt') as f:
        f.write('header\nt h\nthree words here\n')
    with pytest.raises(ValueError, match='bad.txt.gz:3'):
        CLIPTokenizer(str(bad))
    with pytest.raises(ValueError, match="line 3 merges 'th' 'ee'"):
        CLIPTokenizer(write_vocab(tmp_path / 'unknown.txt.gz', [('t', 'h'), ('th', 'ee')]))
    with pytest.raises(ValueError, match="merge line 3 makes 'th'"):
        CLIPTokenizer(write_vocab(tmp_path / 'dup.txt.gz', [('t', 'h'), ('t', 'h')]))


def test_vocab_not_installed_error(monkeypatch):
    def no_distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
    monkeypatch.setattr(importlib.metadata, 'files', no_distribution)
    with pytest.raises(FileNotFoundError, match='pip install open_clip_torch --no-deps'):
        CLIPTokenizer()


def test_real_vocab_known_ids():
    # open_clip_torch (installed --no-deps by tools/install.sh) ships the vocabulary file
    path = find_clip_vocab()
    with open(path, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == VOCAB_SHA256
    tok = CLIPTokenizer(path)
    assert tok.vocab_size == 49408 and (tok.sot_id, tok.eot_id) == (49406, 49407)
    assert tok.encode_batch(['a photo of a cat.', 'Hello, World!', 'Tom &amp; Jerry',
                             "it's 2024", 'Café 日本']) == [
        [320, 1125, 539, 320, 2368, 269], [3306, 267, 1002, 256], [2435, 261, 9164],
        [585, 568, 273, 271, 273, 275], [15304, 39121, 19277, 361]]


def open_clip_simple_tokenizer():
    """open_clip's own ``SimpleTokenizer``, its module loaded from the installed file alone:
    importing the ``open_clip`` package would import torchvision, which is not installed."""
    folder = os.path.dirname(find_clip_vocab())
    spec = importlib.util.spec_from_file_location('open_clip_tokenizer',
                                                  os.path.join(folder, 'tokenizer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer(os.path.join(folder, 'bpe_simple_vocab_16e6.txt.gz'))


def test_real_vocab_matches_open_clip_simple_tokenizer():
    ref = open_clip_simple_tokenizer()
    assert 'open_clip' not in sys.modules and 'torchvision' not in sys.modules
    tok = CLIPTokenizer(find_clip_vocab())
    rng = random.Random(0)
    alphabet = 'abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,!?\'-&;éüßñçøå日本語😀ﬁ\u0301\t\n'
    texts = STRINGS + [''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
                       for _ in range(300)]
    assert tok.encode_batch(texts) == [ref.encode(t) for t in texts]
    long_texts = ['a photo of ' * 40, 'the cat.', '']
    assert torch.equal(tok(long_texts), ref(long_texts))  # start, end, truncation, padding


def test_checkpoint_meta_names_the_vocabulary_and_restores_it_by_hash(vocab_path, tmp_path,
                                                                      monkeypatch):
    from mammut_det.engine import restore_tokenizers
    from mammut_det.text import clip
    tok = CLIPTokenizer(vocab_path, context_length=24)
    with open(vocab_path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = tok.to_meta()
    assert meta == dict(type='CLIPTokenizer', file='vocab.txt.gz', sha256=digest)
    stored = {'tokenizers': {'class_embedder.tokenizer': meta}}

    def model_cfg():
        gone = str(tmp_path / 'gone' / 'vocab.txt.gz')
        return dict(class_embedder=dict(tokenizer=dict(type='CLIPTokenizer', path=gone,
                                                       context_length=24)))

    def not_installed():
        raise FileNotFoundError('CLIPTokenizer: bpe_simple_vocab_16e6.txt.gz not found.')

    monkeypatch.setattr(clip, 'find_clip_vocab', not_installed)
    with pytest.raises(FileNotFoundError, match=f'made with vocab.txt.gz \\(sha256 {digest}\\)'):
        restore_tokenizers(model_cfg(), stored)
    # installed with the same bytes: the config points at it and the ids are the same
    monkeypatch.setattr(clip, 'find_clip_vocab', lambda: vocab_path)
    cfg = model_cfg()
    assert restore_tokenizers(cfg, stored) == ['class_embedder.tokenizer']
    assert cfg['class_embedder']['tokenizer'] == dict(type='CLIPTokenizer', path=vocab_path,
                                                      context_length=24)
    texts = ['a photo of a cat', 'two dogs']
    assert torch.equal(TOKENIZERS.build(cfg['class_embedder']['tokenizer'])(texts), tok(texts))
    # another vocabulary installed: an error naming both hashes
    other = write_vocab(tmp_path / 'other.txt.gz', MERGES[:-1])
    monkeypatch.setattr(clip, 'find_clip_vocab', lambda: other)
    with pytest.raises(ValueError, match=f'sha256 {digest}.*other.txt.gz has sha256'):
        restore_tokenizers(model_cfg(), stored)
