"""``loadtester load [hey flags] URL``: the built-in engine from a shell, hey's output layout."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from loadtester.load_via import VIA_BOOL_FLAGS, VIA_FLAGS, check_via, webhook_metadata
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import HeyArgs, spec_from_hey, split_hey_flags
from loadtester.loadgen.input.spec import LoadSpec

if TYPE_CHECKING:
    from loadtester.loadgen.results.details import Details
    from loadtester.loadgen.results.messages import ProgressDelta
    from loadtester.loadgen.results.result import LoadResult
    from loadtester.loadgen.results.verdict import RegressionPolicy

# Imports are deferred to the branch that needs them: a small run starts sending before a big
# one would have loaded multiprocessing (python -X importtime -m loadtester.loadgen.cli ...).

__all__ = ["USAGE", "main"]

USAGE = """Usage: loadtester load [options...] <url>
       loadtester load -f scenario.yaml [-n N | -z D] [-c C] [-q Q] [-o json] [base url]

Runs the built-in load generator with hey's flags and meaning, and prints hey's summary.

Options:
  -n  Number of requests to run. Default is 200.
  -c  Number of connections (hey's workers). Default is 50.
  -q  Rate limit, in requests per second per connection (total rate = q * c).
  -z  Duration of the run, e.g. -z 10s -z 3m. If given, -n is ignored.
  -m  HTTP method.      -H  Custom header (repeatable).   -t  Timeout per request, seconds.
  -A  Accept header.    -d  Request body.   -D  Request body from file.
  -T  Content-Type (default text/html).     -a  Basic auth, user:password.
  -host  Host header.   -disable-compression  -disable-keepalive  -disable-redirects
  -cacert FILE  Verify the server against these CA certificates (PEM; default: no
                verification, like hey). vegeta: -root-certs.
  -cert FILE  -key FILE  Client certificate and its key (PEM) for mTLS, as vegeta's.
  -server-name NAME  TLS server name (SNI, and the name verified); default: the -host
                header's host, else the URL's.
  -h2  HTTP/2 over TLS (https://, ALPN h2).  -h2c  HTTP/2 over cleartext (http://, prior
       knowledge).  -streams N  Requests in flight on each HTTP/2 connection (default 1).
  -f  A scenario (YAML or JSON): weighted requests with checks, optional stages. -n -z -c
      -q -t apply to the run as a whole (the scenario's stages, if any, set rate and length);
      a per-request table follows hey's summary.
  -o json        Print a JSON document instead of hey's summary.
  --compare URL  A compare run: every request also goes, at the same scheduled instant, to
                 URL (the primary; its own -c connections, the rate is per target); a
                 comparison follows the summary (-o json: a "compare" object). A URL without
                 a path takes the canary URL's path and query; with -f, each request's path
                 goes to URL (or the request's own compareUrl).
  --max-regression "p99=20%, errorRate=0.5"  With --compare: fail (exit status 1) when the
                 canary is worse by more than the margin and significantly so.
  --significance 0.05  --min-samples 50  --require-verdict true  The verdict's test level,
                 the requests each target needs, and whether "inconclusive" fails.
  -workers N     Worker processes (default: none for a small or slow run, which starts
                 sending at once; for a long or big one, as many as its rate needs, one per
                 CPU at full speed, fewer under a cgroup memory limit).
  --via URL      Run on the service at URL instead (Flagger's `type: load` webhook, waited
                 for) and print its answer; exit 1 if the run failed there, 2 if it refused
                 the run. --token-file FILE (or $LOADTESTER_TOKEN_FILE): its token.
                 --canary NAME.NAMESPACE: the run's canary (default loadtester-cli.default).
  --replicas N|all  With --via, on a service on the Redis store: spread the run over N of
                 its replicas (or all); --allow-partial: a lost share does not fail the run.

Ctrl-C ends the run and prints the report of what was sent; a second Ctrl-C aborts.
"""


class _EarlyInterrupt:
    """Catches a Ctrl-C that comes before the run's own handler is installed."""

    def __init__(self) -> None:
        self.seen = False
        self.previous: object = None

    def __enter__(self) -> _EarlyInterrupt:
        with contextlib.suppress(ValueError):  # not the main thread: leave SIGINT alone
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)  # type: ignore[arg-type]


def main(argv: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``loadtester load`` with ``argv`` (the arguments after ``load``); return the exit
    code: 0 after a run (whatever the target answered), 2 for a bad flag, 1 if a worker failed
    or a compare run's comparison failed (its verdict, or the compare target unreachable)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if any(a in ("-h", "-help", "--help") for a in argv):
        out.write(USAGE)
        return 0
    with _EarlyInterrupt() as early:
        return _main(argv, out, err, early)


def _main(argv: list[str], out: TextIO, err: TextIO, early: _EarlyInterrupt) -> int:
    try:
        args = split_hey_flags(argv, extra_value_flags=_CLI_FLAGS, require_url=False,
                               extra_bool_flags=VIA_BOOL_FLAGS)
        output = args.values.get("o", "")
        if output not in ("", "json"):
            raise LoadSpecError(f"unsupported value {output!r} for flag -o (only json)")
        check_via(args)
        workers = _workers(args.values.get("workers"))
        scenario = _read_scenario(args.values["f"]) if "f" in args.values else None
        spec = spec_from_hey(args) if scenario is None else _spec_from_scenario(args, scenario)
        spec = _with_tls(spec, args)
        spec, policy = _compare(args, spec)
        if "via" in args.values:
            metadata = webhook_metadata(args, spec, _CLI_FLAGS, scenario)
    except LoadSpecError as exc:
        err.write(f"loadtester load: {exc}\n")
        return 2
    if "via" in args.values:
        from loadtester.load_via import run_via

        with contextlib.suppress(ValueError):  # not the main thread: leave SIGINT alone
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C ends the wait
        return 130 if early.seen else run_via(args, spec, metadata, output, out, err)
    from loadtester.loadgen.errors import LoadGenError
    from loadtester.loadgen.results.details import Details
    from loadtester.loadgen.results.report import Progress
    from loadtester.loadgen.running.worker import new_event_loop

    progress = Progress(err, spec.duration, spec.total_requests) if err.isatty() else None

    def on_progress(delta: ProgressDelta) -> None:
        if progress is not None:
            progress.update(delta.delta, delta.elapsed)

    details = Details()
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            run = _run(spec, workers, on_progress if progress else None, details, early)
            result = runner.run(run)
    except LoadSpecError as exc:
        err.write(f"loadtester load: {exc}\n")
        return 2
    except LoadGenError as exc:
        err.write(f"loadtester load: {exc}\n")
        return 1
    finally:
        if progress is not None:
            progress.close()
    comparison = None
    if result.primary is not None:
        from loadtester.loadgen.results.comparison import compare_results

        comparison = compare_results(result, policy)
    if output == "json":
        import json

        document = result.to_json()
        if comparison is not None:
            comparison.add_to(document)
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        from loadtester.loadgen.results.report import format_hey_summary, format_requests

        out.write(format_hey_summary(result, details) + format_requests(result))
        if result.primary is not None:
            from loadtester.loadgen.results.compare import compare_text

            out.write(compare_text(result, result.primary, spec.compare_spec().url))
            if comparison is not None and comparison.verdict is not None:
                out.write(f"  Verdict: {comparison.verdict.outcome}: "
                          f"{comparison.verdict.message}\n")
    out.flush()
    if comparison is not None and comparison.failure is not None:
        err.write(f"loadtester load: {comparison.failure}\n")
        return 1
    return 0


async def _run(
    spec: LoadSpec,
    workers: int | None,
    on_progress: Callable[[ProgressDelta], None] | None,
    details: Details,
    early: _EarlyInterrupt,
) -> LoadResult:
    """Run; the first Ctrl-C ends the run early with a report (as hey does), a second aborts.

    A run one process sends quickly enough runs here; a long one at full speed, or a big one,
    starts here too and goes on in worker processes once they are ready (see
    running/local.py)."""
    from loadtester.loadgen.running.local import fits_locally

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.current_task()

    def interrupt() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # main thread only
        loop.add_signal_handler(signal.SIGINT, interrupt)
    if early.seen:  # Ctrl-C while starting: report the empty run
        stop.set()
    try:
        if fits_locally(spec, workers):
            from loadtester.loadgen.running.local import run_local

            return await run_local(spec, on_progress, progress_interval=0.25, stop=stop,
                                   details=details)  # fmt: skip
        from loadtester.loadgen.running.workers import run_load

        # a compare run waits for its workers: a hand-over counts the canary's requests only
        return await run_load(spec, workers, on_progress, progress_interval=0.25, stop=stop,
                              details=details, hand_over=spec.compare is None)  # fmt: skip
    finally:
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)


def _read_scenario(path: str) -> str:
    """``-f scenario.yaml``: the scenario's text (at most 1 MiB)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1024 * 1024 + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise LoadSpecError(f"invalid value for flag -f: {reason}: {path}") from None
    if len(text) > 1024 * 1024:
        raise LoadSpecError(f"invalid value for flag -f: larger than 1 MiB: {path}")
    return text


_PER_REQUEST_FLAGS = ("m", "d", "D", "T", "A", "a", "host")
_RUN_FLAGS = ("n", "c", "q", "z", "t", "cpus", "streams")


def _spec_from_scenario(args: HeyArgs, text: str) -> LoadSpec:
    """The run of a scenario document with the run-wide hey flags in ``args`` (-n -c -q -z -t
    apply to the run as a whole, what a scenario sets per request is refused; a URL, if given,
    is the base of the scenario's relative request URLs)."""
    from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec

    v = args.values
    for name in _PER_REQUEST_FLAGS:
        if name in v:
            raise LoadSpecError(f"flag -{name} does not apply with -f: set it on the scenario's "
                                "requests")
    if args.headers:
        raise LoadSpecError("flag -H does not apply with -f: set headers on the scenario's "
                            "requests")
    scenario = parse_scenario(text, args.url or None)
    run_wide = {name: v[name] for name in _RUN_FLAGS if name in v}
    if scenario.stages is not None:
        for name in ("n", "q", "z"):
            if name in v:
                raise LoadSpecError(f"flag -{name} conflicts with the scenario's stages: they set "
                                    "the rate and the length of the run")
        run_wide["z"] = "1s"  # skips hey's checks of -n; the stages replace the duration
    one = HeyArgs(values=run_wide, bools=args.bools, url=args.url or scenario.requests[0].url)
    base = spec_from_hey(one)
    if "compare" in v:  # the primary's requests are built with the mix
        base = dataclasses.replace(base, compare=v["compare"])
    if scenario.stages is not None:
        base = dataclasses.replace(base, duration=None)
    return scenario_spec(scenario, base)


_TLS_FLAGS = ("cacert", "cert", "key", "server-name")
_COMPARE_FLAGS = ("compare", "max-regression", "significance", "min-samples", "require-verdict")
_CLI_FLAGS = frozenset({"o", "workers", "f", *_TLS_FLAGS, *_COMPARE_FLAGS, *VIA_FLAGS})  # not hey's


def _compare(args: HeyArgs, spec: LoadSpec) -> tuple[LoadSpec, RegressionPolicy | None]:
    """The spec with --compare's URL, and the verdict's policy (--max-regression, ...; None
    without one); the flags are checked now (LoadSpecError naming the flag)."""
    v = args.values
    given = [v.get(flag) for flag in _COMPARE_FLAGS[1:]]
    if "compare" not in v and all(text is None for text in given):
        return spec, None
    from loadtester.loadgen.results.verdict import parse_policy

    try:
        policy = parse_policy(*given)
    except LoadSpecError as exc:
        raise LoadSpecError(f"invalid compare flags: {exc}") from None
    if "compare" not in v:
        raise LoadSpecError("flag --max-regression needs --compare URL (the primary)")
    return dataclasses.replace(spec, compare=v["compare"]), policy


def _with_tls(spec: LoadSpec, args: HeyArgs) -> LoadSpec:
    """-cacert, -cert, -key, -server-name: the files read and checked now."""
    from loadtester.loadgen.input.tlsoptions import Names, TLSOptions, with_tls

    ca, cert, key, name = (args.values.get(flag) for flag in _TLS_FLAGS)
    if ca is None and cert is None and key is None and name is None:
        return spec
    from loadtester.files import read_regular_file
    from loadtester.loadgen.input.tlsoptions import MAX_PEM_FILE
    from loadtester.loadgen.running.tlscontext import read_checked

    names = Names(*(f"-{flag}" for flag in _TLS_FLAGS))
    tls = TLSOptions(ca_file=ca, cert_file=cert, key_file=key, server_name=name, names=names)
    spec = with_tls(spec, tls)
    return with_tls(spec, read_checked(tls, lambda path: read_regular_file(path, MAX_PEM_FILE)))


def _workers(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise LoadSpecError(f"invalid value {text!r} for flag -workers: not an integer") from None
    if value < 1:
        raise LoadSpecError(f"invalid value {text!r} for flag -workers: must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
