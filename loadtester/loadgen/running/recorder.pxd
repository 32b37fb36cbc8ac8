from loadtester.loadgen.results.histogram cimport Histogram
from loadtester.loadgen.results.details cimport Details

cdef class Recorder:
    cdef long long[::1] codes
    cdef public list stages
    cdef public dict errors, checks
    cdef public Histogram hist
    cdef public Details details
    cdef public long long rejected, retried
