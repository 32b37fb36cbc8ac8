cdef class Phase:
    cdef public long long max, min, n, sum
    cpdef void add(self, long long ns)

cdef class Details:
    cdef public Phase dial, dns
    cdef public long long size, answers
    cdef public long long write_sum, write_min, write_max, wait_sum, wait_min, wait_max
    cdef public long long read_sum, read_min, read_max
    cpdef void answered(self, long long write, long long wait, long long read)
