cimport cython

cdef long _NAME, _VALUE, _LONGEST_LENGTH
cdef bytes _CLASS

@cython.locals(c=long)
cdef bint _named(const unsigned char *raw, Py_ssize_t at, bytes name)

cdef class KnownHead:
    cdef readonly bytes raw
    cdef readonly long long status, length
    cdef readonly bint keep

cdef class ResponseHead:
    cdef public long long status, length
    cdef public bint keep
    cdef readonly bytes seen
    cdef readonly list known
    # raw, kind: the bytes of data and of _CLASS, unchecked (parse checks every index)
    @cython.locals(raw=cython.p_const_uchar, kind=cython.p_const_uchar, seen=bytes,
                   known=KnownHead, i=Py_ssize_t, name=Py_ssize_t, size=Py_ssize_t,
                   value=Py_ssize_t, last=Py_ssize_t, token=Py_ssize_t, tail=Py_ssize_t,
                   c=long, minor=long, status=cython.longlong, length=cython.longlong,
                   close=bint, keep_alive=bint)
    cpdef long long parse(self, bytes data, Py_ssize_t start, Py_ssize_t end)
