pub mod console;
pub mod engine;
pub mod events;
pub mod links;
pub mod projects;
pub mod switches;
pub mod topology;
pub mod vms;
