cimport cython
from cpython cimport time  # the .py's time.monotonic_ns(): a C call, no Python int
from loadtester.loadgen.running.engine cimport Engine
from loadtester.loadgen.running.responsehead cimport ResponseHead

cdef class Conn:
    cdef public Engine eng
    cdef public object transport, parser, task, data
    cdef public ResponseHead head
    cdef public bint busy, dead, got, retried, reads_body
    cdef public long long idx, served, sched, endpoint, ri, sent, need
    cdef public long long dial_start, dial, wstart, wrote, first, last
    cpdef send(self, long long sched, long long now)
    cpdef complete(self, long long status, bint keep)
    cpdef on_body(self, body)
    @cython.locals(head=ResponseHead, at=Py_ssize_t, end=Py_ssize_t, after=Py_ssize_t,
                   need=cython.longlong, taken=cython.longlong)
    cdef read(self, bytes data)
    cdef feed(self, data)

cdef class HeadConn(Conn):
    pass
