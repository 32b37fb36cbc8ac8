from cpython cimport time  # the .py's time.monotonic_ns(): a C call, no Python int
from loadtester.loadgen.running.engine cimport Engine

cdef class Conn:
    cdef public Engine eng
    cdef public object transport, parser, task, data
    cdef public bint busy, dead, got, retried
    cdef public long long idx, served, sched, endpoint, ri, sent
    cdef public long long dial_start, dial, wstart, wrote, first, last
    cpdef send(self, long long sched, long long now)

cdef class HeadConn(Conn):
    pass
