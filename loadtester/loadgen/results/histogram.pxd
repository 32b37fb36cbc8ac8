cdef class Histogram:
    cdef public list counts
    cdef public long long total, total_us, min, max
    cpdef void record(self, long long value_us)
