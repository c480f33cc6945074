mod alloc;
