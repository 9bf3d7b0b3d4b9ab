//! A lab of two started PCs linked by crossed tunnels, over the HTTP API.

use reqwest::Client;
use serde_json::{json, Value};

use super::{Console, TempServer};

/// A project with two VPCS VMs linked by crossed tunnels, both started.
pub(crate) struct Lab {
    pub server: TempServer,
    pub project: String,
    pub vms: Vec<Value>,
}

impl Lab {
    pub(crate) async fn linked_pair() -> Lab {
        let server = TempServer::start(&[]).await;
        let c = Client::new();
        let post = |path: String, body: Value| {
            let c = c.clone();
            let url = server.url(&path);
            async move {
                let res = c.post(url).body(body.to_string()).send().await.unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                res.json::<Value>().await.unwrap_or(Value::Null)
            }
        };
        let project = post("/v1/projects".into(), json!({"name": "test"})).await["project_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let vms_path = format!("/v1/projects/{project}/vpcs/vms");
        let mut vms = vec![];
        for name in ["VPCS 1", "VPCS 2"] {
            vms.push(post(vms_path.clone(), json!({ "name": name })).await);
        }
        let p1 = post(format!("/v1/projects/{project}/ports/udp"), json!({})).await["udp_port"].clone();
        let p2 = post(format!("/v1/projects/{project}/ports/udp"), json!({})).await["udp_port"].clone();
        for (vm, (l, r)) in vms.iter().zip([(&p1, &p2), (&p2, &p1)]) {
            let id = vm["vm_id"].as_str().unwrap();
            let nio = json!({"lport": l, "rhost": "127.0.0.1", "rport": r, "type": "nio_udp"});
            post(format!("{vms_path}/{id}/adapters/0/ports/0/nio"), nio).await;
            post(format!("{vms_path}/{id}/start"), json!({})).await;
        }
        Lab { server, project, vms }
    }

    /// A console on each PC, each PC given its address.
    pub(crate) async fn addressed_consoles(&self, one_ip: &str, two_ip: &str) -> (Console, Console) {
        let mut one = Console::connect(self.console(0)).await;
        let mut two = Console::connect(self.console(1)).await;
        one.expect("VPCS> ").await;
        two.expect("VPCS> ").await;
        one.run(&format!("ip {one_ip}"), "VPCS> ").await;
        two.run(&format!("ip {two_ip}"), "VPCS> ").await;
        (one, two)
    }

    pub(crate) fn console(&self, i: usize) -> u16 {
        self.vms[i]["console"].as_u64().unwrap() as u16
    }

    pub(crate) fn vm_url(&self, i: usize) -> String {
        self.server.url(&format!(
            "/v1/projects/{}/vpcs/vms/{}",
            self.project,
            self.vms[i]["vm_id"].as_str().unwrap()
        ))
    }

    pub(crate) async fn vm(&self, i: usize) -> Value {
        reqwest::get(self.vm_url(i)).await.unwrap().json().await.unwrap()
    }
}
