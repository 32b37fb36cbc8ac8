"""Running a LoadSpec: the engine family and its connections, in this process or in workers."""
