from cpython cimport time  # the .py's time.monotonic_ns(): a C call, no Python int
from loadtester.loadgen.running.recorder cimport Recorder

cdef class Engine:
    cdef dict __dict__
    cdef public Recorder rec
    cdef public object request, claim_due, remaining, loop, timer
    cdef public bint keepalive, idempotent, closed_loop
    cdef public long long in_flight, next_i, base, stride, unsent
    cdef public long long start_ns, end_ns, first_ns, due_ns, finished_ns
    cdef public double interval_ns
    cdef public list free, slots
    cdef long long claim(self, long long now) except? -3
