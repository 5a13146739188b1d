//! Aider's history file.

use super::*;

const AIDER_HISTORY: &str = "
# aider chat started at 2026-12-05 19:44:55

> Detected dumb terminal, disabling fancy input and pretty output.  
> Aider v0.86.2  

#### FIRSTMSG aider  

I'll note it.

first.txt
```
one
```

REPLY-ONE-BANANA

> Tokens: 767 sent, 21 received. Cost: $0.00081 message, $0.00081 session.  
> Applied edit to first.txt  

# aider chat started at 2026-12-05 19:45:08

> Restored previous conversation history.  

#### THIRDMSG aider  
#### on two lines  

REPLY-THREE-DATE
";

#[test]
fn aider_history_is_the_conversation_and_carry_copies_it() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("A"), t.path().join("B"));
    std::fs::create_dir_all(&b).unwrap();
    let s = stores(t.path());
    // Only aider's notes: no conversation yet.
    put(
        &a.join(super::super::aider::HISTORY),
        "\n# aider chat started at 2026-12-05\n\n> Aider v0.86.2\n",
        1,
    );
    assert_eq!(latest(Cli::Aider, &s, &a).unwrap(), None);
    let orig = put(&a.join(super::super::aider::HISTORY), AIDER_HISTORY, 20);
    let c = latest(Cli::Aider, &s, &a).unwrap().unwrap();
    assert_eq!(c.id, None);
    assert_eq!(c.first_message.as_deref(), Some("FIRSTMSG aider"));
    assert_eq!(
        find(Cli::Aider, &s, Some("ignored-id.md"), &a).unwrap(),
        None
    );
    assert_eq!(find(Cli::Aider, &s, None, &a).unwrap(), Some(c.clone()));
    assert_eq!(
        summary(&c, &s).unwrap(),
        "User: FIRSTMSG aider\n\nAssistant: I'll note it.\n\nfirst.txt\n```\none\n```\n\nREPLY-ONE-BANANA\n\n\
         User: THIRDMSG aider\non two lines\n\nAssistant: REPLY-THREE-DATE"
    );
    let resume = strings(&["--message", "{prompt}", "{mode}", "--restore-chat-history"]);
    let carried = carry(&c, &s, &b, &[], Some(&resume), &NO_TOOL).unwrap();
    assert_eq!(carried.first_args, resume);
    assert_eq!(carried.made, vec![b.join(super::super::aider::HISTORY)]);
    assert_eq!(
        std::fs::read_to_string(b.join(super::super::aider::HISTORY)).unwrap(),
        AIDER_HISTORY
    );
    assert_eq!(std::fs::read_to_string(&orig).unwrap(), AIDER_HISTORY);
    std::fs::write(b.join(super::super::aider::HISTORY), "#### mine\n").unwrap();
    assert!(carry(&c, &s, &b, &[], Some(&resume), &NO_TOOL).is_err());
    assert_eq!(
        std::fs::read_to_string(b.join(super::super::aider::HISTORY)).unwrap(),
        "#### mine\n"
    );
}
