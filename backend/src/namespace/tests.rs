//! The namespace over a model on a temporary directory, without any transport.

use super::{After, Namespace};
use crate::model::testing::model;
use crate::osc::codec::{Arg, Message};

fn s(x: &str) -> Arg {
    Arg::Str(x.into())
}

async fn ask(ns: &Namespace<'_>, addr: &str, args: Vec<Arg>) -> Vec<Message> {
    ns.handle(&Message::new(addr, args)).await.0
}

/// The one reply's arguments, its address checked.
async fn one(ns: &Namespace<'_>, addr: &str, args: Vec<Arg>) -> Vec<Arg> {
    let mut replies = ask(ns, addr, args).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    let reply = replies.remove(0);
    assert_eq!(reply.addr, addr);
    reply.args
}

#[tokio::test]
async fn queries_answer_at_the_input_address_with_a_return_code_first() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 45000).await;
    let ns = Namespace { model: &model };
    assert_eq!(one(&ns, "/nope/documentation", vec![]).await, vec![Arg::Int(-1), s("Invalid address")]);
    assert_eq!(one(&ns, "/patch/add-transform", vec![s("Value"), s("v"), s("42")]).await, vec![Arg::Int(0)]);
    assert_eq!(one(&ns, "/patch/v/value/current-value", vec![]).await[0], Arg::Int(0));
    assert_eq!(
        one(&ns, "/patch/current-value", vec![]).await,
        vec![Arg::Int(-1), s("Address does not have a readable type")]
    );
    let sig = one(&ns, "/main_clock/type-signature", vec![]).await;
    assert_eq!(sig, vec![Arg::Int(0), s("t"), s("State"), s("Time"), s("Activator")]);
    // A trailing slash lists children and methods, counted.
    let listing = one(&ns, "/lab/", vec![]).await;
    assert_eq!(listing, vec![Arg::Int(3), s("create-project"), s("open-project"), s("projects")]);
}

#[tokio::test]
async fn a_glob_gives_the_count_then_one_reply_per_match() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 45200).await;
    let ns = Namespace { model: &model };
    for name in ["a", "b"] {
        one(&ns, "/patch/add-transform", vec![s("Value"), s(name), s("1")]).await;
    }
    let replies = ask(&ns, "/patch/?/value/current-value", vec![]).await;
    assert_eq!(replies[0].args, vec![Arg::Int(2)]);
    let addrs: Vec<&str> = replies[1..].iter().map(|r| r.addr.as_str()).collect();
    assert_eq!(addrs.len(), 2);
    assert!(
        addrs.contains(&"/patch/a/value/current-value") && addrs.contains(&"/patch/b/value/current-value")
    );
}

#[tokio::test]
async fn the_lab_is_built_over_the_model_and_saved_in_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 45400).await;
    let ns = Namespace { model: &model };
    let reply = one(&ns, "/lab/create-project", vec![s("unit")]).await;
    let [Arg::Int(0), Arg::Str(id)] = reply.as_slice() else { panic!("{reply:?}") };
    assert!(dir.path().join("projects").join(id).join("project.json").exists());
    let project = format!("/lab/projects/{id}");
    assert_eq!(
        one(&ns, &format!("{project}/name/current-value"), vec![]).await,
        vec![Arg::Int(0), s("unit")]
    );
    let reply = one(&ns, &format!("{project}/create-switch"), vec![s("SW1")]).await;
    let [Arg::Int(0), Arg::Str(sw)] = reply.as_slice() else { panic!("{reply:?}") };
    // Without a port count the switch has the lab's default, 8.
    assert_eq!(one(&ns, &format!("{project}/switches/{sw}/ports/"), vec![]).await[0], Arg::Int(8));
    let refused = one(&ns, &format!("{project}/name"), vec![s("renamed")]).await;
    assert_eq!(refused, vec![Arg::Int(-1), s("Lab states are read-only here: use the lab's methods")]);
    assert_eq!(one(&ns, &format!("{project}/delete"), vec![]).await, vec![Arg::Int(0)]);
    assert!(!dir.path().join("projects").join(id).exists());
}

#[tokio::test]
async fn osw_quit_asks_the_server_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 45600).await;
    let ns = Namespace { model: &model };
    let (replies, after) = ns.handle(&Message::new("/osw-quit", vec![])).await;
    assert_eq!(replies[0].args, vec![Arg::Int(0)]);
    assert_eq!(after, After::Quit);
}
