cimport cython
from loadtester.loadgen.running.connection cimport Conn
from loadtester.loadgen.running.engine cimport Engine
from loadtester.loadgen.running.recorder cimport Recorder

cdef class MixConn(Conn):
    cdef public object buf, req
    cdef public bint matched
    @cython.locals(rec=Recorder, latency=cython.longlong)
    cpdef record(self, long long status, long long now)

cdef class MixHeadConn(MixConn):
    pass

cdef class MixEngine(Engine):
    cdef public object order, requests, endpoint_of
    cdef public list frees, recs
    cdef public long long period
    @cython.locals(conn=MixConn, free=list, ri=Py_ssize_t, sched=cython.longlong)
    cpdef pump(self, long long now)
