//! Stores, and instances that own their own stores and caches (per-request server rendering).

use hookline::Flow;
use hookline_actions::{AsyncAction, Instance, MissingStore, RunOptions, Store, Stores};

#[derive(Debug, Default, Clone, PartialEq)]
struct Gallery {
    pictures: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Prefetched {
    tag: String,
    pictures: Vec<String>,
}

#[tokio::test]
async fn a_store_updates_in_place_and_notifies_subscribers() {
    let store = Store::new(Gallery::default());
    let mut subscriber = store.subscribe();
    store.update(|g| g.pictures.push("cat.jpg".into()));
    subscriber.changed().await.unwrap();
    assert_eq!(subscriber.borrow().pictures, ["cat.jpg"]);
    assert_eq!(store.get().pictures, ["cat.jpg"]);
    assert_eq!(store.read(|g| g.pictures.len()), 1);

    let clone = store.clone();
    clone.update(|g| g.pictures.clear());
    assert!(store.get().pictures.is_empty(), "clones share the state");
}

#[test]
fn stores_are_found_by_type_and_a_missing_one_is_named() {
    let stores = Stores::new()
        .with(Store::new(Gallery::default()))
        .with(Store::new(7u32));
    assert_eq!(stores.len(), 2);
    assert!(stores.get::<Gallery>().is_some());
    assert_eq!(stores.store::<u32>().unwrap().get(), 7);

    let missing = stores.store::<Prefetched>().unwrap_err();
    assert_eq!(
        missing,
        MissingStore {
            type_name: std::any::type_name::<Prefetched>()
        }
    );
    assert!(missing.to_string().contains("Prefetched"));
    assert!(missing.to_string().contains("Stores::new().with"));

    let replaced = stores.clone().with(Store::new(8u32));
    assert_eq!(replaced.store::<u32>().unwrap().get(), 8);
    assert_eq!(
        stores.store::<u32>().unwrap().get(),
        7,
        "the original is unchanged"
    );
    assert!(Stores::new().is_empty());
}

fn request() -> Instance {
    Instance::with_stores(Stores::new().with(Store::new(Gallery::default())))
}

fn search() -> AsyncAction<String, Vec<String>, String> {
    let search = AsyncAction::new("search", |tag: String| async move {
        Ok(vec![format!("{tag}-1.jpg")])
    });
    search
        .post_action()
        .tap("gallery", |ctx| {
            if let Ok(pictures) = ctx.result() {
                let pictures = pictures.to_vec();
                ctx.stores()
                    .store::<Gallery>()?
                    .update(|g| g.pictures = pictures);
            }
            Ok(Flow::Continue)
        })
        .unwrap();
    search
}

#[tokio::test]
async fn each_instance_has_its_own_cache_and_its_hooks_get_its_stores() {
    let search = search();
    let (a, b) = (request(), request());
    let in_a = search.in_instance(&a);
    let in_b = search.in_instance(&b);

    in_a.run("cats".into()).await.unwrap();
    assert_eq!(
        a.stores().store::<Gallery>().unwrap().get().pictures,
        ["cats-1.jpg"]
    );
    assert!(
        b.stores()
            .store::<Gallery>()
            .unwrap()
            .get()
            .pictures
            .is_empty()
    );
    assert!(in_a.get_cached(&"cats".into()).finished);
    assert!(!in_b.get_cached(&"cats".into()).started);

    in_b.run_with("dogs".into(), RunOptions::new().respect_cache())
        .await
        .unwrap();
    assert_eq!(
        b.stores().store::<Gallery>().unwrap().get().pictures,
        ["dogs-1.jpg"]
    );
    assert_eq!(
        a.stores().store::<Gallery>().unwrap().get().pictures,
        ["cats-1.jpg"]
    );

    assert!(search.in_instance(&a).instance().ptr_eq(&a));
    assert!(search.in_instance(&a).get_cached(&"cats".into()).finished);
}

#[tokio::test]
async fn hooks_are_shared_by_every_instance_of_an_action() {
    let search = search();
    let a = request();
    search
        .in_instance(&a)
        .post_action()
        .tap("second", |_| Ok(Flow::Continue))
        .unwrap();
    assert_eq!(
        search.post_action().explain().names(),
        ["gallery", "second"]
    );
}

#[tokio::test]
async fn a_hook_that_needs_a_missing_store_fails_with_its_name() {
    let search = search();
    let error = search.run("cats".into()).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("tap `gallery`"), "{message}");
    assert!(message.contains("Gallery"), "{message}");
}

#[tokio::test]
async fn the_action_and_the_short_circuit_receive_the_instances_stores() {
    let action =
        AsyncAction::builder_with_stores("search", |tag: String, stores: Stores| async move {
            let seen = stores
                .get::<Gallery>()
                .map(|g| g.get().pictures.len())
                .unwrap_or(0);
            Ok::<_, String>(vec![format!("{tag} after {seen}")])
        })
        .build();
    action
        .short_circuit()
        .tap("prefetched", |ctx| {
            let prefetched = ctx.stores().get::<Prefetched>().map(Store::get);
            Ok(match prefetched {
                Some(p) if &p.tag == ctx.args() => Flow::Return(Ok(p.pictures)),
                _ => Flow::Continue,
            })
        })
        .unwrap();
    let instance = Instance::with_stores(
        Stores::new()
            .with(Store::new(Gallery {
                pictures: vec!["x".into(), "y".into()],
            }))
            .with(Store::new(Prefetched {
                tag: "cats".into(),
                pictures: vec!["prefetched cat".into()],
            })),
    );
    let action = action.in_instance(&instance);
    assert_eq!(
        *action.read("cats".into()).await.unwrap(),
        ["prefetched cat"]
    );
    assert_eq!(*action.read("dogs".into()).await.unwrap(), ["dogs after 2"]);
}
