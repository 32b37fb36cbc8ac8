cimport cython

cdef long long _LINEAR
cdef bytes _BYTE_BITS

cdef class Histogram:
    cdef public object counts
    cdef long long[::1] tally
    cdef public long long total, total_us, min, max
    @cython.locals(shift=cython.int)
    cpdef void record(self, long long value_us)
