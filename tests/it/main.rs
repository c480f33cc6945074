mod alloc;
mod real_broker;
mod real_cluster;
