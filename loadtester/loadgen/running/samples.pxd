from loadtester.loadgen.results.histogram cimport Histogram

cdef class SampleBudget:
    cdef public long long left

cdef class SampledHistogram(Histogram):
    cdef public SampleBudget budget
    cdef public object samples
    cdef public bint over
    cpdef void record(self, long long value_us)
