pub mod console;
pub mod engine;
pub mod events;
pub mod projects;
pub mod topology;
pub mod vms;
