cdef class TLSSocketTransport:
    cdef public object _loop, _sock, _protocol, _obj, _read, _write, _pending
    cdef public long _fd
    cdef public bint _closed
