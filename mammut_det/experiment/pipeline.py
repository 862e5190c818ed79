"""Resumable stages with done-markers, run one after another or side by side.

A :class:`Stage` is either a command line (a real tool, run as a subprocess from the repository
root) or a Python callable. Its *signature* hashes what it does (command, settings) and the
signatures of the stages it depends on. A stage that finishes writes ``stages/<name>.json``
(signature, wall and CPU seconds, outputs); a later run with the same signature reuses it, so
an interrupted experiment resumes where it stopped, and a changed setting reruns exactly the
stages it reaches.
Every stage writes ``logs/<name>.log``; its lines are echoed to the console (prefixed with the
stage name when several stages run at once).
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO


class StageFailed(RuntimeError):
    """A stage exited with an error; the message names it and its log file."""


@dataclass
class Stage:
    """One step of the experiment.

    Args:
        name: unique file-name-safe name (``detector_two-pass``).
        title: what it does, for the banner.
        deps: names of the stages that must finish first.
        command: argv of a subprocess (run from the repository root), or ``None``.
        action: ``action(log)`` run in this process instead of a command; ``log`` is the stage's
            open log file; returns the stage's outputs (JSON-serialisable).
        collect: ``collect()`` run after a successful command; returns the outputs.
        clean: folders removed before the stage runs (its work dir), so a rerun starts afresh.
        settings: anything else the result depends on (part of the signature).
        always: run even when done before (a cheap summary such as the report).
    """

    name: str
    title: str
    deps: tuple[str, ...] = ()
    command: list[str] | None = None
    action: Callable[[TextIO], dict] | None = None
    collect: Callable[[], dict] | None = None
    clean: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)
    always: bool = False

    def __post_init__(self) -> None:
        if (self.command is None) == (self.action is None):
            raise ValueError(f'stage {self.name!r}: give exactly one of command and action')


def reap(proc: subprocess.Popen) -> float | None:
    """``None`` while ``proc`` runs; once it has exited, reap it (setting its ``returncode``)
    and return the CPU seconds (user + system) that it and the children it waited for (data
    loader workers) used."""
    if proc.returncode is not None:
        raise ValueError(f'process {proc.pid} was reaped already; its CPU time is lost')
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def schedule_estimate(stages: Sequence[Stage], seconds: dict[str, float], jobs: int) -> float:
    """How long :meth:`Pipeline.run` takes for ``stages`` if stage ``name`` takes
    ``seconds[name]`` (e.g. its CPU seconds: its time on a quiet machine where each running stage
    has a core of its own): the same order and policy (at most ``jobs`` commands side by side,
    each as soon as its dependencies are done, in-process stages alone)."""
    info = {s.name: s for s in stages}
    pending = [s.name for s in stages]
    running: dict[str, float] = {}  # name -> when it ends
    done: set[str] = set()
    now = 0.0
    while pending or running:
        before = len(pending)
        for name in list(pending):
            stage = info[name]
            if len(running) >= jobs:
                break
            if not all(d in done for d in stage.deps):
                continue
            pending.remove(name)
            if stage.action is not None:
                if running:
                    pending.insert(0, name)
                    break
                now += seconds[name]
                done.add(name)
            else:
                running[name] = now + seconds[name]
        if not running:
            if len(pending) == before:
                raise ValueError(f'stages {pending} wait on stages that never run')
            continue
        name = min(running, key=running.get)
        now = running.pop(name)
        done.add(name)
    return now


def shell_line(command: Sequence[str], env: dict[str, str] | None = None) -> str:
    """A command as a copy-pasteable shell line, with ``env`` assignments in front."""
    prefix = ' '.join(f'{k}={shlex.quote(v)}' for k, v in (env or {}).items())
    line = ' '.join(shlex.quote(c) for c in command)
    return f'{prefix} {line}' if prefix else line


class Pipeline:
    """Runs :class:`Stage` objects in dependency order, at most ``jobs`` at a time.

    Args:
        out_dir: experiment folder; markers go to ``stages/``, logs to ``logs/``.
        stages: the stages, each after the stages it depends on.
        env: extra environment of the subprocesses (also shown in the printed commands).
        jobs: stages run side by side (1: one after another).
        cwd: working folder of the subprocesses (the repository root).
        console: where banners and echoed log lines go.
        display: rewrites argv for printing (e.g. ``python`` for the interpreter's path).
    """

    def __init__(self, out_dir: str, stages: Sequence[Stage], env: dict[str, str],
                 jobs: int = 1, cwd: str | None = None, console: TextIO | None = None,
                 display: Callable[[list[str]], list[str]] | None = None) -> None:
        if jobs < 1:
            raise ValueError(f'jobs must be >= 1, got {jobs}')
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f'stage names repeat: {names}')
        self.stages = {s.name: s for s in stages}
        for s in stages:
            missing = [d for d in s.deps if d not in self.stages or names.index(d) > names.index(
                s.name)]
            if missing:
                raise ValueError(f'stage {s.name!r} depends on {missing}, which are not earlier '
                                 'stages')
        self.order = names
        self.out_dir = out_dir
        self.env = dict(env)
        self.jobs = jobs
        self.cwd = cwd
        self.console = console or sys.stdout
        self.display = display or (lambda argv: argv)
        self._lock = threading.Lock()
        self._signatures: dict[str, str] = {}

    # -- bookkeeping ------------------------------------------------------------------------
    def marker_path(self, name: str) -> str:
        return osp.join(self.out_dir, 'stages', f'{name}.json')

    def log_path(self, name: str) -> str:
        return osp.join(self.out_dir, 'logs', f'{name}.log')

    def signature(self, name: str) -> str:
        """Hash of the stage's command, settings and its dependencies' signatures."""
        if name not in self._signatures:
            s = self.stages[name]
            payload = json.dumps(dict(name=name, command=s.command, settings=s.settings,
                                      env=self.env if s.command else None,
                                      deps=[self.signature(d) for d in s.deps]), sort_keys=True)
            self._signatures[name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
        return self._signatures[name]

    def marker(self, name: str) -> dict | None:
        """The stage's done-marker if it matches the current signature, else ``None``."""
        path = self.marker_path(name)
        if not osp.isfile(path):
            return None
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError):
            return None
        return data if data.get('signature') == self.signature(name) else None

    def forget(self, names: Sequence[str]) -> list[str]:
        """Remove the markers of ``names`` and of every stage depending on them (directly or
        not), so that the next run redoes them; returns the stages forgotten."""
        unknown = [n for n in names if n not in self.stages]
        if unknown:
            raise KeyError(f'unknown stage(s) {unknown}; stages are {self.order}')
        gone = set(names)
        for name in self.order:
            if any(d in gone for d in self.stages[name].deps):
                gone.add(name)
        for name in gone:
            if osp.isfile(self.marker_path(name)):
                os.remove(self.marker_path(name))
        return [n for n in self.order if n in gone]

    def command_line(self, stage: Stage) -> str | None:
        """The stage's command as a shell line (``None`` for an in-process stage)."""
        if stage.command is None:
            return None
        return shell_line(self.display(stage.command), self.env)

    def _say(self, text: str) -> None:
        with self._lock:
            self.console.write(text + '\n')
            self.console.flush()

    # -- running ------------------------------------------------------------------------------
    def _prepare(self, stage: Stage) -> TextIO:
        marker = self.marker_path(stage.name)
        if osp.isfile(marker):
            os.remove(marker)
        for folder in stage.clean:
            shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(osp.dirname(self.log_path(stage.name)), exist_ok=True)
        return open(self.log_path(stage.name), 'w', buffering=1)

    def _finish(self, stage: Stage, seconds: float, cpu_seconds: float, outputs: dict) -> dict:
        data = dict(stage=stage.name, title=stage.title, signature=self.signature(stage.name),
                    seconds=round(seconds, 1), cpu_seconds=round(cpu_seconds, 1),
                    finished=time.strftime('%Y-%m-%d %H:%M:%S'),
                    finished_at=time.time(),
                    command=self.command_line(stage), log=self.log_path(stage.name),
                    outputs=outputs)
        os.makedirs(osp.dirname(self.marker_path(stage.name)), exist_ok=True)
        tmp = self.marker_path(stage.name) + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.marker_path(stage.name))
        return data

    def _pump(self, stage: Stage, proc: subprocess.Popen, log: TextIO, prefix: str) -> None:
        for line in proc.stdout:
            log.write(line)
            self._say(prefix + line.rstrip('\n'))

    def _start(self, stage: Stage, index: int) -> tuple[subprocess.Popen, threading.Thread,
                                                        TextIO, float]:
        log = self._prepare(stage)
        env = dict(os.environ, **self.env, PYTHONUNBUFFERED='1')
        self._banner(stage, index)
        log.write(f'$ {self.command_line(stage)}\n')
        proc = subprocess.Popen(stage.command, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        prefix = f'[{stage.name}] ' if self.jobs > 1 else ''
        pump = threading.Thread(target=self._pump, args=(stage, proc, log, prefix), daemon=True)
        pump.start()
        return proc, pump, log, time.perf_counter()

    def _banner(self, stage: Stage, index: int) -> None:
        line = self.command_line(stage)
        self._say(f'\n==> [{index}/{len(self.order)}] {stage.name}: {stage.title}'
                  + (f'\n    $ {line}' if line else '')
                  + f'\n    log: {self.log_path(stage.name)}')

    def _run_action(self, stage: Stage, index: int) -> dict:
        log = self._prepare(stage)
        self._banner(stage, index)
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            outputs = stage.action(log)
        except Exception as e:
            log.write(f'failed: {type(e).__name__}: {e}\n')
            log.close()
            raise StageFailed(f'stage {stage.name} failed ({type(e).__name__}: {e}); log: '
                              f'{self.log_path(stage.name)}') from e
        log.close()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        self._say(f'<== {stage.name} done in {seconds:.0f} s ({cpu:.0f} CPU s)')
        return self._finish(stage, seconds, cpu, outputs or {})

    def run(self) -> dict[str, dict]:
        """Run every stage not done yet; returns the markers of all stages. Raises
        :class:`StageFailed` on the first failure (other running stages are stopped) and
        re-raises ``KeyboardInterrupt`` after stopping the running ones."""
        done: dict[str, dict] = {}
        for name in self.order:
            marker = None if self.stages[name].always else self.marker(name)
            if marker is not None and all(d in done for d in self.stages[name].deps):
                done[name] = marker
        for i, name in enumerate(self.order, start=1):
            if name in done:
                self._say(f'--- [{i}/{len(self.order)}] {name}: done before in '
                          f'{done[name]["seconds"]:.0f} s, reusing it '
                          f'({self.marker_path(name)})')
        pending = [n for n in self.order if n not in done]
        running: dict[str, tuple[subprocess.Popen, threading.Thread, TextIO, float]] = {}
        try:
            while pending or running:
                for name in list(pending):
                    stage = self.stages[name]
                    if len(running) >= self.jobs:
                        break
                    if not all(d in done for d in stage.deps):
                        continue
                    pending.remove(name)
                    index = self.order.index(name) + 1
                    if stage.action is not None:
                        if running:  # in-process stages run alone
                            pending.insert(0, name)
                            break
                        done[name] = self._run_action(stage, index)
                    else:
                        running[name] = self._start(stage, index)
                for name, (proc, pump, log, start) in list(running.items()):
                    cpu = reap(proc)
                    if cpu is None:
                        continue
                    pump.join()
                    log.close()
                    del running[name]
                    seconds = time.perf_counter() - start
                    if proc.returncode != 0:
                        raise StageFailed(f'stage {name} failed with exit status '
                                          f'{proc.returncode}; log: {self.log_path(name)}')
                    stage = self.stages[name]
                    outputs = stage.collect() if stage.collect is not None else {}
                    self._say(f'<== {name} done in {seconds:.0f} s ({cpu:.0f} CPU s)')
                    done[name] = self._finish(stage, seconds, cpu, outputs)
                if running:
                    time.sleep(0.2)
        except BaseException:
            for proc, pump, log, _ in running.values():
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                pump.join(timeout=5)
                log.close()
            raise
        return done
