"""A web page for open-vocabulary detection: upload an image, type class names, move the score
threshold, see the boxes (Gradio; ``pip install -e .[demo]``).

``python tools/demo_web.py CONFIG CHECKPOINT [--texts "cat, red car"] [--score-thr 0.3]
[--host 127.0.0.1] [--port 7860] [--device cpu] [--cfg-options k=v ...]``

The model is loaded once; the class embeddings of each vocabulary typed are computed once and
cached. Nothing is fetched from the internet (Gradio's analytics are switched off).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mammut_det.apis import OVDetInferencer  # noqa: E402
from mammut_det.apis.web_demo import build_demo  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Web page for open-vocabulary detection')
    parser.add_argument('config', help='detector config file (configs/detection/...)')
    parser.add_argument('checkpoint', help='detector checkpoint (from tools/train.py)')
    parser.add_argument('--texts', default=None,
                        help='class names shown at first (default: the checkpoint\'s classes)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='threshold shown at first')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to serve on (0.0.0.0: reachable from other machines)')
    parser.add_argument('--port', type=int, default=7860, help='port to serve on')
    parser.add_argument('--device', default=None,
                        help='cpu, cuda:0, ... (default: a GPU if there is one)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs (xxx=yyy format)')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    try:
        inferencer = OVDetInferencer(args.config, args.checkpoint, device=args.device,
                                     cfg_options=args.cfg_options, show_progress=False)
    except (OSError, ValueError) as e:
        print(f'demo_web.py: error: {e}', file=sys.stderr)
        return 2
    texts = args.texts if args.texts is not None else ', '.join(inferencer.vocabulary)
    demo = build_demo(inferencer, texts=texts, score_thr=args.score_thr)
    print(f'serving on http://{args.host}:{args.port}/ (Ctrl-C stops)', flush=True)
    demo.launch(server_name=args.host, server_port=args.port, show_error=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
