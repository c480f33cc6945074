mod alloc;
mod real_broker;
