//! Every provider Maestro knows, by name. Adding one is one line here.

use crate::Provider;

// One provider a line, so that adding one is a one-line change.
#[rustfmt::skip]
pub fn providers() -> Vec<Box<dyn Provider>> {
    vec![
        Box::new(crate::json::JsonImport),
        Box::new(crate::aws::Aws),
        Box::new(crate::terraform::Terraform),
        Box::new(crate::ansible::Ansible),
        Box::new(crate::openstack::OpenStack),
        Box::new(crate::digitalocean::DigitalOcean),
        Box::new(crate::azure::Azure),
    ]
}

pub fn provider(name: &str) -> Option<Box<dyn Provider>> {
    providers().into_iter().find(|provider| provider.name() == name)
}
