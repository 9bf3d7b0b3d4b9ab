//! The namespace over a model on a temporary directory, without any transport.

use super::{After, Namespace};
use crate::access::Role;
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
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
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
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
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
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
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
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
    let (replies, after) = ns.handle(&Message::new("/osw-quit", vec![])).await;
    assert_eq!(replies[0].args, vec![Arg::Int(0)]);
    assert_eq!(after, After::Quit);
}

#[tokio::test]
async fn globs_reach_states_and_queries_but_never_run_methods() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 46400).await;
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
    one(&ns, "/lab/create-project", vec![s("kept")]).await;
    // `/*/*` matches /lab/create-project (and /lab/open-project): each is refused, none runs.
    let replies = ask(&ns, "/*/*", vec![s("made by a glob")]).await;
    let refused: Vec<&Message> =
        replies.iter().filter(|r| r.addr == "/lab/create-project" || r.addr == "/osw-quit").collect();
    assert!(!refused.is_empty(), "{replies:?}");
    let reason = s("Methods need an explicit address, not a pattern");
    assert!(refused.iter().all(|r| r.args == vec![Arg::Int(-1), reason.clone()]));
    assert_eq!(model.lab.list_projects().len(), 1);
    // `//delete` finds the project's delete method and deletes nothing.
    let replies = ask(&ns, "//delete", vec![]).await;
    assert_eq!(replies[0].args, vec![Arg::Int(1)]);
    assert_eq!(replies[1].args, vec![Arg::Int(-1), reason.clone()]);
    assert_eq!(model.lab.list_projects().len(), 1);
    // `/*` matches /osw-quit: refused, so the server does not quit.
    let (replies, after) = ns.handle(&Message::new("/*", vec![])).await;
    assert_eq!(after, After::Nothing);
    assert!(replies.iter().any(|r| r.addr == "/osw-quit" && r.args[0] == Arg::Int(-1)));
    // Queries and read-only methods still expand.
    let docs = ask(&ns, "/lab/*/documentation", vec![]).await;
    assert!(docs[1..].iter().all(|r| r.args[0] == Arg::Int(0)), "{docs:?}");
    one(&ns, "/patch/add-transform", vec![s("Value"), s("v"), s("1")]).await;
    let inlets = ask(&ns, "/patch/?/get-inlets", vec![]).await;
    assert_eq!(inlets[0].args[0], Arg::Int(1));
    assert!(matches!(inlets[1].args[0], Arg::Int(n) if n > 0), "{inlets:?}");
}

#[tokio::test]
async fn long_addresses_and_huge_expansions_get_an_error_reply() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 46600).await;
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
    for addr in [format!("/{}", "*".repeat(60_000)), "/".repeat(60_000), format!("/{}x", "*".repeat(3000))] {
        let replies = ask(&ns, &addr, vec![]).await;
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].args[0], Arg::Int(-1));
        assert!(replies[0].args[1].as_str().unwrap().contains("longer than"), "{:?}", replies[0].args);
        assert_eq!(replies[0].addr, addr[..2048], "the reply is at the address's first 2,048 bytes");
    }
    // The pathological patterns answer at once (with no match).
    let started = std::time::Instant::now();
    assert_eq!(ask(&ns, &format!("/{}Z", "*".repeat(20)), vec![]).await[0].args, vec![Arg::Int(0)]);
    assert_eq!(ask(&ns, "/patch/*a*a*a*a*a*a*b/bang", vec![]).await[0].args, vec![Arg::Int(0)]);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // More matches than the cap: one error reply, not thousands.
    for i in 0..super::MAX_GLOB_MATCHES / 8 {
        one(&ns, "/patch/add-transform", vec![s("Value"), s(&format!("v{i}")), s("1")]).await;
    }
    let replies = ask(&ns, "//*", vec![]).await;
    assert_eq!(replies.len(), 1, "{:?}", &replies[..3]);
    assert!(replies[0].args[1].as_str().unwrap().contains("narrow it"));
}

#[tokio::test]
async fn a_viewer_reads_but_sets_and_calls_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 45800).await;
    let admin = Namespace { model: &model, role: Role::Admin, at: None };
    one(&admin, "/patch/add-transform", vec![s("Value"), s("v"), s("42")]).await;
    let viewer = Namespace { model: &model, role: Role::Viewer, at: None };
    let refused = |args: Vec<Arg>| args.first() == Some(&Arg::Int(-1));
    assert_eq!(one(&viewer, "/patch/v/value/current-value", vec![]).await[0], Arg::Int(0));
    assert_ne!(one(&viewer, "/patch/v/get-inlets", vec![]).await[0], Arg::Int(-1), "read-only methods run");
    assert!(refused(one(&viewer, "/patch/v/value", vec![Arg::Float(1.0)]).await), "a set-value");
    assert!(refused(one(&viewer, "/patch/add-transform", vec![s("Value"), s("w"), s("1")]).await));
    assert!(refused(one(&viewer, "/lab/create-project", vec![s("x")]).await));
    assert!(refused(one(&viewer, "/osw-quit", vec![]).await));
    let (_, after) = viewer.handle(&Message::new("/osw-quit", vec![])).await;
    assert_eq!(after, After::Nothing);
    // A glob of set-values is refused per match, and nothing changed.
    let replies = ask(&viewer, "/patch/?/value", vec![Arg::Float(7.0)]).await;
    assert!(replies[1..].iter().all(|r| r.args[0] == Arg::Int(-1)), "{replies:?}");
    let value = one(&admin, "/patch/v/value/current-value", vec![]).await;
    assert_eq!(value[1], Arg::Int(42), "the glob of set-values changed nothing");
    assert!(model.lab.list_projects().is_empty());
}

/// The requests answered at once are answered as the general path answers them.
#[tokio::test]
async fn answers_at_once_equal_the_general_path() {
    let dir = tempfile::tempdir().unwrap();
    let model = model(dir.path(), 48400).await;
    let ns = Namespace { model: &model, role: Role::Admin, at: None };
    one(&ns, "/patch/add-transform", vec![s("Bang"), s("b")]).await;
    one(&ns, "/patch/add-transform", vec![s("Value"), s("v"), s("1")]).await;
    for (addr, args) in [
        ("/patch/b/in", vec![]),
        ("/patch/v/in", vec![Arg::Int(5)]),
        ("/patch/v/value/current-value", vec![]),
    ] {
        let m = Message::new(addr, args);
        let at_once = ns.handle_at_once(&m).unwrap_or_else(|| panic!("{addr} is answered at once"));
        let (general, _) = ns.handle(&m).await;
        assert_eq!(vec![at_once], general, "{addr}");
    }
    // What is not answered at once: patterns, listings, methods, the lab.
    for addr in ["/patch/*/documentation", "/patch/", "/patch/v/set-name", "/lab/create-project"] {
        assert!(ns.handle_at_once(&Message::new(addr, vec![])).is_none(), "{addr}");
    }
}
