"""`python -m wacft.acft --config run.json [--resume]`: a training run whose events are JSON lines on stdout.
The local backend and the Modal job run training this way."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wacft.acft.config import TrainConfig
from wacft.acft.events import STAGE, JsonLinesSink
from wacft.errors import WacftError
from wacft.extras import needs_extra
from wacft.faults import stop_on_signals


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m wacft.acft")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    with stop_on_signals():  # `wacft cancel` sends SIGTERM: the run then says it was stopped
        return run(args)


def run(args: argparse.Namespace) -> int:
    sink = JsonLinesSink(sys.stdout)
    try:
        config = TrainConfig.load(args.config)
    except WacftError as e:
        sink.emit({"type": "error", "stage": STAGE, "message": str(e)})
        return 1
    try:
        with needs_extra("train"):
            from wacft.acft.trainer import train
    except WacftError as e:
        sink.emit({"type": "error", "stage": STAGE, "message": str(e)})
        return 1
    try:
        train(config, sink, resume=args.resume, force=args.force)
    except WacftError:
        return 1  # train() has sent it as an error event
    except KeyboardInterrupt:
        return 130  # Ctrl+C or SIGTERM (`wacft cancel`): sent as an error event too
    return 0


if __name__ == "__main__":
    sys.exit(main())
