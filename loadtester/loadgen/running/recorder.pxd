from loadtester.loadgen.results.histogram cimport Histogram
from loadtester.loadgen.results.details cimport Details

cdef class Recorder:
    cdef public list codes, stages
    cdef public dict errors, checks
    cdef public Histogram hist
    cdef public Details details
    cdef public long long rejected, retried
