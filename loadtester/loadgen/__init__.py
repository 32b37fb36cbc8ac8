"""The built-in load generator, in four rooms. Imports run one way: running -> input ->
results -> errors, tools -> results, and cli.py on top of them all.

    errors.py            LoadSpecError (a run that cannot be described), LoadGenError (a worker)
    input/               what to run
      spec.py            LoadSpec: one run (URL or a mix, rate, concurrency, length) and the
                         request bytes it stands for
      metadata.py        webhook metadata -> LoadSpec and Thresholds
      heyflags.py        hey's flags (Go flag syntax) -> LoadSpec
      scenario.py        a scenario document (YAML/JSON) -> Mix, with stages
      mix.py             Mix: a scenario's pre-built requests, endpoints and interleaved order
      stages.py          a ramping rate ("30s:0->100, 2m:100") as a Profile
      boundedyaml.py     YAML read at a bounded cost
    results/             what a run produced
      histogram.py, details.py   latencies (log-linear buckets); hey's phase details
      result.py          LoadResult: counts, errors, latency; merging; JSON
      thresholds.py      Thresholds: pass/fail of a run and of each scenario request
      report.py          hey's text summary and the live progress line
      messages.py        ProgressDelta, and what workers and their parent say over a pipe
      series.py          RunSeries: requests, errors, p50, p99 per second and target, bounded
      compare.py         a compare run: canary and primary side by side, the differences
      comparison.py      what a compare run decides: target unreachable, or the verdict
    running/             sending
      connection.py      Conn: one keep-alive HTTP/1.1 connection (asyncio protocol)
      responsehead.py    ResponseHead: the usual answer's head, read without httptools
      engine.py          Engine: one process's share, closed or open loop, stages
      mixengine.py       MixEngine, MixConn: a scenario's mix on the same pump
      factory.py         new_engine(spec, share): the one place that picks the engine
      paired.py          PairedEngine: a compare run's two engines on one schedule
      samples.py         SampledHistogram: a compare run's raw latencies, up to a cap
      recorder.py, shares.py     an interval's counts; a run split over processes
      local.py           a run in the calling process (small runs, the first moments of big ones)
      worker.py, workers.py      a worker process; run_load: a run over worker processes
      sizing.py          size_workers: the worker processes a run needs (0: run it here)
    tools/               hey's and ghz's output read back (tasks that run those tools)
      toolreport.py      the ToolReport protocol and what both tools print
      hey.py, ghz.py     parse_hey_output, parse_ghz_output
    cli.py               `loadtester load`: hey's flags in, hey's summary out
    compiled.py          the hot modules Cython may compile (setup.py), never run stale

The service builds a LoadSpec (input/metadata.py), runs it (running/workers.py run_load) and
judges the LoadResult, or a tool's report, with results/thresholds.py.
"""

from loadtester.loadgen.compiled import install

install()  # before any hot module is imported: see compiled.py
