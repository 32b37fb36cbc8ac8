from cpython cimport time  # the .py's time.monotonic_ns(): a C call, no Python int
cimport cython
from loadtester.loadgen.running.connection cimport Conn
from loadtester.loadgen.running.engine cimport Engine
from loadtester.loadgen.running.recorder cimport Recorder

cdef class MixEngine

cdef class Sending:
    cdef public bytes data, literal
    cdef public object status, body
    cdef public bint checked, early, head, idempotent
    cdef public long long max_latency_us

cdef class MixConn(Conn):
    cdef public bytearray buf
    cdef public Sending req
    cdef public MixEngine mixer
    cdef public bint matched
    @cython.locals(rec=Recorder, latency=cython.longlong)
    cpdef record(self, long long status, long long now)
    cpdef on_body(self, body)
    cpdef complete(self, long long status, bint keep)

cdef class MixHeadConn(MixConn):
    pass

cdef class MixEngine(Engine):
    cdef public object requests
    cdef public bytes order
    cdef public list endpoint_of, frees, recs, sending
    cdef public long long period
    @cython.locals(conn=MixConn, free=list, ri=Py_ssize_t, sched=cython.longlong,
                   endpoint=Py_ssize_t, taken=MixConn, req=Sending)
    cpdef pump(self, long long now, MixConn ended=*)
