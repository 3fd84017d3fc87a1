//! Every command over a real socket, with the exact replies and error
//! texts Redis 7 gives (checked against redis-server; see
//! `common/mod.rs` for running these tests against a reference Redis).

mod common;

use common::{
    RespClient, START_MS, TestServer, Value, array, bulk, bulks, err, int, nil, ok, simple,
};
use std::collections::{BTreeSet, HashMap};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn arity(command: &str) -> Value {
    err(&format!(
        "ERR wrong number of arguments for '{command}' command"
    ))
}

async fn setup() -> (TestServer, RespClient) {
    let server = TestServer::start().await;
    let client = server.connect().await;
    (server, client)
}

/// The elements of an unordered reply (KEYS, SCAN page) as text.
fn sorted_texts(value: &Value) -> Vec<String> {
    let mut texts: Vec<String> = value.items().iter().map(Value::text).collect();
    texts.sort();
    texts
}

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ping_and_echo() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["PING"], simple("PONG"));
    assert_reply!(c, ["ping"], simple("PONG"));
    assert_reply!(c, ["PING", "hello world"], bulk("hello world"));
    assert_reply!(c, ["PING", "a", "b"], arity("ping"));
    assert_reply!(c, ["ECHO", "x\r\ny\0"], bulk("x\r\ny\0"));
    assert_reply!(c, ["ECHO", ""], bulk(""));
    assert_reply!(c, ["ECHO"], arity("echo"));
    assert_reply!(c, ["ECHO", "a", "b"], arity("echo"));
}

#[tokio::test]
async fn select_only_database_zero() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SELECT", "0"], ok());
    assert_reply!(c, ["SELECT", "1"], err("ERR DB index is out of range"));
    assert_reply!(c, ["SELECT", "-1"], err("ERR DB index is out of range"));
    assert_reply!(c, ["SELECT", "abc"], err(NOT_INT));
    assert_reply!(c, ["SELECT"], arity("select"));
    assert_reply!(c, ["SELECT", "0", "1"], arity("select"));
}

#[tokio::test]
async fn dbsize_and_flushall() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["DBSIZE"], int(0));
    assert_reply!(c, ["MSET", "a", "1", "b", "2", "c", "3"], ok());
    assert_reply!(c, ["DBSIZE"], int(3));
    assert_reply!(c, ["DBSIZE", "x"], arity("dbsize"));
    assert_reply!(c, ["FLUSHALL", "NOW"], err(SYNTAX));
    assert_reply!(c, ["DBSIZE"], int(3));
    assert_reply!(c, ["FLUSHALL"], ok());
    assert_reply!(c, ["DBSIZE"], int(0));
    assert_reply!(c, ["GET", "a"], nil());
    assert_reply!(c, ["SET", "a", "1"], ok());
    assert_reply!(c, ["FLUSHALL", "ASYNC"], ok());
    assert_reply!(c, ["DBSIZE"], int(0));
    assert_reply!(c, ["SET", "a", "1"], ok());
    assert_reply!(c, ["FLUSHALL", "sync"], ok());
    assert_reply!(c, ["EXISTS", "a"], int(0));
}

#[tokio::test]
async fn client_setname_getname_id() {
    let (server, mut c) = setup().await;
    let mut other = server.connect().await;
    assert_reply!(c, ["CLIENT", "GETNAME"], nil());
    assert_reply!(c, ["CLIENT", "SETNAME", "worker-1"], ok());
    assert_reply!(c, ["CLIENT", "GETNAME"], bulk("worker-1"));
    assert_reply!(other, ["CLIENT", "GETNAME"], nil());
    assert_reply!(
        c,
        ["CLIENT", "SETNAME", "a b"],
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_reply!(c, ["CLIENT", "GETNAME"], bulk("worker-1"));
    assert_reply!(c, ["CLIENT", "SETNAME", ""], ok());
    assert_reply!(c, ["CLIENT", "GETNAME"], nil());

    let id = c.cmd(&["CLIENT", "ID"]).await.as_int();
    let other_id = other.cmd(&["CLIENT", "ID"]).await.as_int();
    assert!(id > 0 && other_id > 0, "{id} {other_id}");
    assert_ne!(id, other_id, "every connection has its own id");
    assert_reply!(c, ["CLIENT", "ID"], int(id));
    let info = c.cmd(&["CLIENT", "INFO"]).await.text();
    assert!(info.contains(&format!("id={id} ")), "{info}");

    assert_reply!(
        c,
        ["CLIENT", "FOO"],
        err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    );
    assert_reply!(
        c,
        ["CLIENT", "GETNAME", "x"],
        err("ERR wrong number of arguments for 'client|getname' command")
    );
    assert_reply!(c, ["CLIENT"], arity("client"));
}

#[tokio::test]
async fn quit_replies_ok_then_closes() {
    let (server, mut c) = setup().await;
    // Everything after QUIT in the same packet is ignored.
    let mut packet = common::encode(&["PING"]);
    packet.extend(common::encode(&["QUIT"]));
    packet.extend(common::encode(&["SET", "after-quit", "1"]));
    c.send_raw(&packet).await;
    assert_eq!(c.read().await, simple("PONG"));
    assert_eq!(c.read().await, ok());
    c.expect_closed().await;
    let mut other = server.connect().await;
    assert_reply!(other, ["EXISTS", "after-quit"], int(0));
}

#[tokio::test]
async fn unknown_command_and_wrong_arity() {
    let (_server, mut c) = setup().await;
    assert_reply!(
        c,
        ["FOO", "a", "b"],
        err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")
    );
    assert_reply!(
        c,
        ["nosuchcommand"],
        err("ERR unknown command 'nosuchcommand', with args beginning with: ")
    );
    assert_reply!(
        c,
        ["averyveryverylongcommandname"],
        err("ERR unknown command 'averyveryverylongcommandname', with args beginning with: ")
    );
    assert_reply!(c, ["GET"], arity("get"));
    assert_reply!(c, ["get", "a", "b"], arity("get"));
    assert_reply!(c, ["SET", "k"], arity("set"));
    assert_reply!(c, ["EXPIRE", "k"], arity("expire"));
    assert_reply!(c, ["TTL"], arity("ttl"));
    assert_reply!(c, ["MGET"], arity("mget"));
    assert_reply!(c, ["DEL"], arity("del"));
    assert_reply!(c, ["KEYS"], arity("keys"));
    assert_reply!(c, ["RANDOMKEY", "x"], arity("randomkey"));
    assert_reply!(c, ["INCRBY", "k"], arity("incrby"));
    // Names are case-insensitive.
    assert_reply!(c, ["sEt", "k", "v"], ok());
    assert_reply!(c, ["gEt", "k"], bulk("v"));
}

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_and_set_are_binary_safe() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["GET", "missing"], nil());
    assert_reply!(c, ["SET", "k", "v"], ok());
    assert_reply!(c, ["GET", "k"], bulk("v"));
    let key: &[u8] = b"bin\0\r\nkey";
    let value: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    assert_reply!(c, ["SET".as_bytes(), key, &value], ok());
    assert_reply!(c, ["GET".as_bytes(), key], bulk(&value));
    assert_reply!(c, ["SET", "empty", ""], ok());
    assert_reply!(c, ["GET", "empty"], bulk(""));
    assert_reply!(c, ["STRLEN", "empty"], int(0));
    assert_reply!(c, ["EXISTS", "empty"], int(1));
}

#[tokio::test]
async fn set_conditions_and_get() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SET", "k", "v1", "XX"], nil());
    assert_reply!(c, ["EXISTS", "k"], int(0));
    assert_reply!(c, ["SET", "k", "v1", "NX"], ok());
    assert_reply!(c, ["SET", "k", "v2", "NX"], nil());
    assert_reply!(c, ["GET", "k"], bulk("v1"));
    assert_reply!(c, ["SET", "k", "v2", "XX"], ok());
    assert_reply!(c, ["GET", "k"], bulk("v2"));
    assert_reply!(c, ["SET", "k", "v3", "GET"], bulk("v2"));
    assert_reply!(c, ["GET", "k"], bulk("v3"));
    assert_reply!(c, ["SET", "new", "n", "GET"], nil());
    assert_reply!(c, ["GET", "new"], bulk("n"));
    // GET with a condition: the old value whether or not it was written.
    assert_reply!(c, ["SET", "k", "v4", "NX", "GET"], bulk("v3"));
    assert_reply!(c, ["GET", "k"], bulk("v3"));
    assert_reply!(c, ["SET", "k", "v4", "xx", "get"], bulk("v3"));
    assert_reply!(c, ["GET", "k"], bulk("v4"));
    assert_reply!(c, ["SET", "other", "o", "XX", "GET"], nil());
    assert_reply!(c, ["EXISTS", "other"], int(0));
}

#[tokio::test]
async fn set_expiry_options() {
    let (server, mut c) = setup().await;
    let now = server.now_ms();
    assert_reply!(c, ["SET", "ex", "v", "EX", "100"], ok());
    assert_reply!(c, ["TTL", "ex"], int(100));
    assert_reply!(c, ["PTTL", "ex"], int(100_000));
    assert_reply!(c, ["SET", "px", "v", "PX", "1500"], ok());
    assert_reply!(c, ["PTTL", "px"], int(1500));
    assert_reply!(c, ["TTL", "px"], int(2), "TTL rounds to the nearest second");
    let at_s = now / 1000 + 1000;
    assert_reply!(c, ["SET", "exat", "v", "EXAT", at_s.to_string()], ok());
    assert_reply!(c, ["EXPIRETIME", "exat"], int(at_s as i64));
    let at_ms = now + 7777;
    assert_reply!(c, ["SET", "pxat", "v", "PXAT", at_ms.to_string()], ok());
    assert_reply!(c, ["PEXPIRETIME", "pxat"], int(at_ms as i64));
    assert_reply!(c, ["PTTL", "pxat"], int(7777));
    // An absolute time in the past: the key is gone at once.
    assert_reply!(c, ["SET", "past", "v", "EXAT", "1"], ok());
    assert_reply!(c, ["GET", "past"], nil());
    assert_reply!(c, ["EXISTS", "past"], int(0));

    // A plain SET clears the TTL; KEEPTTL keeps it.
    assert_reply!(c, ["SET", "ex", "v2", "KEEPTTL"], ok());
    assert_reply!(c, ["TTL", "ex"], int(100));
    assert_reply!(c, ["GET", "ex"], bulk("v2"));
    assert_reply!(c, ["SET", "ex", "v3"], ok());
    assert_reply!(c, ["TTL", "ex"], int(-1));
    assert_reply!(c, ["SET", "kt", "v", "KEEPTTL"], ok());
    assert_reply!(c, ["TTL", "kt"], int(-1));
    assert_reply!(c, ["SET", "ex", "v4", "EX", "50", "XX", "GET"], bulk("v3"));
    assert_reply!(c, ["TTL", "ex"], int(50));
}

#[tokio::test]
async fn set_syntax_errors() {
    let (_server, mut c) = setup().await;
    let invalid = err("ERR invalid expire time in 'set' command");
    for args in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "10", "PX", "100"],
        &["SET", "k", "v", "PX", "100", "EXAT", "10"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "FOO"],
        &["SET", "k", "v", "NX", "v2"],
        // Options are checked before the expire time is parsed.
        &["SET", "k", "v", "EX", "abc", "NX", "XX"],
    ] {
        assert_eq!(c.cmd(args).await, err(SYNTAX), "{args:?}");
    }
    for args in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "EX", "-5"],
        &["SET", "k", "v", "PX", "0"],
        &["SET", "k", "v", "EXAT", "0"],
        &["SET", "k", "v", "PXAT", "-1"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
    ] {
        assert_eq!(c.cmd(args).await, invalid, "{args:?}");
    }
    assert_reply!(c, ["SET", "k", "v", "EX", "abc"], err(NOT_INT));
    assert_reply!(c, ["SET", "k", "v", "PX", "1.5"], err(NOT_INT));
    assert_reply!(c, ["DBSIZE"], int(0), "no failed SET wrote anything");
}

#[tokio::test]
async fn setnx_setex_psetex() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SETNX", "k", "v1"], int(1));
    assert_reply!(c, ["SETNX", "k", "v2"], int(0));
    assert_reply!(c, ["GET", "k"], bulk("v1"));

    assert_reply!(c, ["SETEX", "k", "100", "v3"], ok());
    assert_reply!(c, ["GET", "k"], bulk("v3"));
    assert_reply!(c, ["TTL", "k"], int(100));
    assert_reply!(
        c,
        ["SETEX", "k", "0", "v"],
        err("ERR invalid expire time in 'setex' command")
    );
    assert_reply!(
        c,
        ["SETEX", "k", "-1", "v"],
        err("ERR invalid expire time in 'setex' command")
    );
    assert_reply!(c, ["SETEX", "k", "abc", "v"], err(NOT_INT));
    assert_reply!(c, ["SETEX", "k", "10"], arity("setex"));

    assert_reply!(c, ["PSETEX", "p", "1500", "v"], ok());
    assert_reply!(c, ["PTTL", "p"], int(1500));
    assert_reply!(c, ["GET", "p"], bulk("v"));
    assert_reply!(
        c,
        ["PSETEX", "p", "0", "v"],
        err("ERR invalid expire time in 'psetex' command")
    );
    assert_reply!(c, ["PSETEX", "p", "x", "v"], err(NOT_INT));
    assert_reply!(c, ["GET", "k"], bulk("v3"), "failed SETEX changed nothing");
}

#[tokio::test]
async fn getset_getdel() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["GETSET", "k", "v1"], nil());
    assert_reply!(c, ["GET", "k"], bulk("v1"));
    assert_reply!(c, ["EXPIRE", "k", "100"], int(1));
    assert_reply!(c, ["GETSET", "k", "v2"], bulk("v1"));
    assert_reply!(c, ["GET", "k"], bulk("v2"));
    assert_reply!(c, ["TTL", "k"], int(-1), "GETSET clears the TTL");

    assert_reply!(c, ["GETDEL", "k"], bulk("v2"));
    assert_reply!(c, ["GET", "k"], nil());
    assert_reply!(c, ["GETDEL", "k"], nil());
    assert_reply!(c, ["GETDEL"], arity("getdel"));
}

#[tokio::test]
async fn getex_options() {
    let (server, mut c) = setup().await;
    let now = server.now_ms();
    assert_reply!(c, ["GETEX", "missing"], nil());
    assert_reply!(c, ["GETEX", "missing", "EX", "10"], nil());
    assert_reply!(c, ["EXISTS", "missing"], int(0));
    assert_reply!(c, ["SET", "k", "v", "EX", "100"], ok());
    assert_reply!(c, ["GETEX", "k"], bulk("v"));
    assert_reply!(c, ["TTL", "k"], int(100), "plain GETEX keeps the TTL");
    assert_reply!(c, ["GETEX", "k", "PX", "5000"], bulk("v"));
    assert_reply!(c, ["PTTL", "k"], int(5000));
    assert_reply!(c, ["GETEX", "k", "EX", "20"], bulk("v"));
    assert_reply!(c, ["TTL", "k"], int(20));
    let at_s = now / 1000 + 3000;
    assert_reply!(c, ["GETEX", "k", "EXAT", at_s.to_string()], bulk("v"));
    assert_reply!(c, ["EXPIRETIME", "k"], int(at_s as i64));
    let at_ms = now + 4321;
    assert_reply!(c, ["GETEX", "k", "PXAT", at_ms.to_string()], bulk("v"));
    assert_reply!(c, ["PEXPIRETIME", "k"], int(at_ms as i64));
    assert_reply!(c, ["GETEX", "k", "PERSIST"], bulk("v"));
    assert_reply!(c, ["TTL", "k"], int(-1));

    assert_reply!(
        c,
        ["GETEX", "k", "EX", "0"],
        err("ERR invalid expire time in 'getex' command")
    );
    assert_reply!(
        c,
        ["GETEX", "k", "PX", "-3"],
        err("ERR invalid expire time in 'getex' command")
    );
    assert_reply!(c, ["GETEX", "k", "EX", "abc"], err(NOT_INT));
    assert_reply!(c, ["GETEX", "k", "FOO"], err(SYNTAX));
    assert_reply!(c, ["GETEX", "k", "EX"], err(SYNTAX));
    assert_reply!(c, ["GETEX", "k", "PERSIST", "EX", "1"], err(SYNTAX));
    assert_reply!(c, ["GETEX", "k", "EX", "10", "PERSIST"], err(SYNTAX));
    assert_reply!(c, ["TTL", "k"], int(-1), "failed GETEX changed nothing");
    assert_reply!(c, ["GETEX"], arity("getex"));
}

#[tokio::test]
async fn mget_mset_msetnx() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["MSET", "a", "1", "b", "2"], ok());
    assert_reply!(
        c,
        ["MGET", "a", "missing", "b", "a"],
        array(vec![bulk("1"), nil(), bulk("2"), bulk("1")])
    );
    assert_reply!(c, ["MSET", "a"], arity("mset"));
    assert_reply!(c, ["MSET", "a", "1", "b"], arity("mset"));
    assert_reply!(c, ["EXPIRE", "a", "100"], int(1));
    assert_reply!(c, ["MSET", "a", "10", "a", "11"], ok());
    assert_reply!(c, ["GET", "a"], bulk("11"), "the last pair for a key wins");
    assert_reply!(c, ["TTL", "a"], int(-1), "MSET clears the TTL");

    assert_reply!(c, ["MSETNX", "a", "x", "c", "3"], int(0));
    assert_reply!(c, ["EXISTS", "c"], int(0), "MSETNX is all or nothing");
    assert_reply!(c, ["GET", "a"], bulk("11"));
    assert_reply!(c, ["MSETNX", "c", "3", "d", "4"], int(1));
    assert_reply!(c, ["MGET", "c", "d"], bulks(&["3", "4"]));
    assert_reply!(c, ["MSETNX", "e", "1", "f"], arity("msetnx"));
    assert_reply!(c, ["MSETNX", "e"], arity("msetnx"));
}

#[tokio::test]
async fn append_and_strlen() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["STRLEN", "k"], int(0));
    assert_reply!(c, ["APPEND", "k", "Hello"], int(5));
    assert_reply!(c, ["APPEND", "k", " World"], int(11));
    assert_reply!(c, ["GET", "k"], bulk("Hello World"));
    assert_reply!(c, ["STRLEN", "k"], int(11));
    assert_reply!(c, ["APPEND", "k", ""], int(11));
    assert_reply!(c, ["EXPIRE", "k", "100"], int(1));
    assert_reply!(c, ["APPEND", "k", "!"], int(12));
    assert_reply!(c, ["TTL", "k"], int(100), "APPEND keeps the TTL");
    assert_reply!(c, ["APPEND", "k"], arity("append"));
}

#[tokio::test]
async fn getrange_with_negative_indexes() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SET", "k", "This is a string"], ok());
    assert_reply!(c, ["GETRANGE", "k", "0", "3"], bulk("This"));
    assert_reply!(c, ["GETRANGE", "k", "-3", "-1"], bulk("ing"));
    assert_reply!(c, ["GETRANGE", "k", "0", "-1"], bulk("This is a string"));
    assert_reply!(c, ["GETRANGE", "k", "10", "100"], bulk("string"));
    assert_reply!(c, ["GETRANGE", "k", "-100", "3"], bulk("This"));
    assert_reply!(c, ["GETRANGE", "k", "5", "3"], bulk(""));
    assert_reply!(c, ["GETRANGE", "k", "-1", "-5"], bulk(""));
    assert_reply!(c, ["GETRANGE", "k", "100", "200"], bulk(""));
    assert_reply!(c, ["GETRANGE", "missing", "0", "-1"], bulk(""));
    assert_reply!(c, ["GETRANGE", "k", "a", "1"], err(NOT_INT));
    assert_reply!(c, ["GETRANGE", "k", "0"], arity("getrange"));
}

#[tokio::test]
async fn setrange_pads_with_zeros() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SETRANGE", "k", "5", "x"], int(6));
    assert_reply!(c, ["GET", "k"], bulk(b"\0\0\0\0\0x"));
    assert_reply!(c, ["SET", "h", "Hello World"], ok());
    assert_reply!(c, ["SETRANGE", "h", "6", "Redis"], int(11));
    assert_reply!(c, ["GET", "h"], bulk("Hello Redis"));
    assert_reply!(c, ["SETRANGE", "h", "9", "xyz"], int(12));
    assert_reply!(c, ["GET", "h"], bulk("Hello Redxyz"));
    assert_reply!(c, ["SETRANGE", "h", "14", "!"], int(15));
    assert_reply!(c, ["GET", "h"], bulk(b"Hello Redxyz\0\0!"));
    assert_reply!(c, ["SETRANGE", "h", "3", ""], int(15));
    // An empty value on a missing key: 0, and no key is created.
    assert_reply!(c, ["SETRANGE", "missing", "0", ""], int(0));
    assert_reply!(c, ["SETRANGE", "missing", "10", ""], int(0));
    assert_reply!(c, ["EXISTS", "missing"], int(0));
    assert_reply!(
        c,
        ["SETRANGE", "h", "-1", "x"],
        err("ERR offset is out of range")
    );
    assert_reply!(c, ["SETRANGE", "h", "abc", "x"], err(NOT_INT));
    assert_reply!(
        c,
        ["SETRANGE", "big", "536870912", "x"],
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_reply!(c, ["EXISTS", "big"], int(0));
}

#[tokio::test]
async fn incr_decr_family() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["INCR", "n"], int(1));
    assert_reply!(c, ["INCR", "n"], int(2));
    assert_reply!(c, ["INCRBY", "n", "10"], int(12));
    assert_reply!(c, ["INCRBY", "n", "-20"], int(-8));
    assert_reply!(c, ["DECR", "n"], int(-9));
    assert_reply!(c, ["DECRBY", "n", "-9"], int(0));
    assert_reply!(c, ["DECRBY", "fresh", "5"], int(-5));
    assert_reply!(c, ["GET", "n"], bulk("0"));
    assert_reply!(c, ["EXPIRE", "n", "100"], int(1));
    assert_reply!(c, ["INCR", "n"], int(1));
    assert_reply!(c, ["TTL", "n"], int(100), "INCR keeps the TTL");

    for value in ["abc", " 1", "1 ", "1.5", "", "99999999999999999999", "0x10"] {
        assert_reply!(c, ["SET", "s", value], ok());
        assert_reply!(c, ["INCR", "s"], err(NOT_INT));
        assert_reply!(c, ["DECRBY", "s", "1"], err(NOT_INT));
    }
    assert_reply!(c, ["INCRBY", "n", "abc"], err(NOT_INT));
    assert_reply!(c, ["INCRBY", "n", "1.0"], err(NOT_INT));
    assert_reply!(c, ["DECRBY", "n", "x"], err(NOT_INT));
    assert_reply!(
        c,
        ["GET", "n"],
        bulk("1"),
        "failed increments changed nothing"
    );

    let overflow = err("ERR increment or decrement would overflow");
    assert_reply!(c, ["SET", "max", i64::MAX.to_string()], ok());
    assert_reply!(c, ["INCR", "max"], overflow.clone());
    assert_reply!(c, ["INCRBY", "max", "1"], overflow.clone());
    assert_reply!(c, ["GET", "max"], bulk(i64::MAX.to_string()));
    assert_reply!(c, ["SET", "min", i64::MIN.to_string()], ok());
    assert_reply!(c, ["DECR", "min"], overflow.clone());
    assert_reply!(c, ["INCRBY", "min", "-1"], overflow.clone());
    assert_reply!(
        c,
        ["DECRBY", "min", i64::MIN.to_string()],
        err("ERR decrement would overflow")
    );
    assert_reply!(c, ["INCRBY", "min", i64::MAX.to_string()], int(-1));
}

#[tokio::test]
async fn incrbyfloat() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["INCRBYFLOAT", "f", "1.5"], bulk("1.5"));
    assert_reply!(c, ["SET", "f", "10.5"], ok());
    assert_reply!(c, ["INCRBYFLOAT", "f", "0.1"], bulk("10.6"));
    assert_reply!(c, ["INCRBYFLOAT", "f", "-5"], bulk("5.6"));
    assert_reply!(c, ["SET", "f", "3"], ok());
    assert_reply!(c, ["INCRBYFLOAT", "f", "1.5"], bulk("4.5"));
    assert_reply!(c, ["INCRBYFLOAT", "f", "-4.5"], bulk("0"));
    assert_reply!(c, ["INCRBYFLOAT", "f", "2.0e2"], bulk("200"));
    assert_reply!(c, ["GET", "f"], bulk("200"));
    assert_reply!(
        c,
        ["INCRBYFLOAT", "f", "abc"],
        err("ERR value is not a valid float")
    );
    assert_reply!(c, ["SET", "s", "hello"], ok());
    assert_reply!(
        c,
        ["INCRBYFLOAT", "s", "1"],
        err("ERR value is not a valid float")
    );
    assert_reply!(
        c,
        ["INCRBYFLOAT", "f", "inf"],
        err("ERR increment would produce NaN or Infinity")
    );
    assert_reply!(
        c,
        ["INCRBYFLOAT", "f", "-inf"],
        err("ERR increment would produce NaN or Infinity")
    );
    assert_reply!(
        c,
        ["INCRBYFLOAT", "f", "nan"],
        err("ERR value is not a valid float")
    );
    assert_reply!(c, ["GET", "f"], bulk("200"));
}

// ---------------------------------------------------------------------------
// Keyspace
// ---------------------------------------------------------------------------

#[tokio::test]
async fn del_unlink_exists_type() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["MSET", "a", "1", "b", "2", "c", "3", "d", "4"], ok());
    assert_reply!(c, ["EXISTS", "a", "a", "missing", "b"], int(3));
    assert_reply!(c, ["EXISTS", "missing"], int(0));
    assert_reply!(c, ["TYPE", "a"], simple("string"));
    assert_reply!(c, ["TYPE", "missing"], simple("none"));
    assert_reply!(c, ["DEL", "a", "b", "missing", "a"], int(2));
    assert_reply!(c, ["EXISTS", "a", "b"], int(0));
    assert_reply!(c, ["DEL", "a"], int(0));
    assert_reply!(c, ["UNLINK", "c", "d", "missing"], int(2));
    assert_reply!(c, ["DBSIZE"], int(0));
    assert_reply!(c, ["UNLINK"], arity("unlink"));
    assert_reply!(c, ["EXISTS"], arity("exists"));
    assert_reply!(c, ["TYPE"], arity("type"));
}

#[tokio::test]
async fn keys_glob_patterns() {
    let (_server, mut c) = setup().await;
    for key in [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "other", "h*llo",
    ] {
        assert_reply!(c, ["SET", key, "1"], ok());
    }
    let keys =
        async |c: &mut RespClient, pattern: &str| sorted_texts(&c.cmd(&["KEYS", pattern]).await);
    assert_eq!(
        keys(&mut c, "*").await,
        [
            "h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo", "other"
        ]
    );
    assert_eq!(
        keys(&mut c, "h?llo").await,
        ["h*llo", "hallo", "hello", "hxllo"]
    );
    assert_eq!(
        keys(&mut c, "h*llo").await,
        ["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys(&mut c, "h[ae]llo").await, ["hallo", "hello"]);
    assert_eq!(keys(&mut c, "h[^e]llo").await, ["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[a-b]llo").await, ["hallo"]);
    assert_eq!(keys(&mut c, "h\\*llo").await, ["h*llo"]);
    assert_eq!(keys(&mut c, "other").await, ["other"]);
    assert!(keys(&mut c, "nomatch*").await.is_empty());
    assert_reply!(c, ["KEYS", "nomatch*"], array(vec![]));
}

#[tokio::test]
async fn scan_returns_every_key_exactly_once() {
    let (_server, mut c) = setup().await;
    let mut mset = vec!["MSET".to_string()];
    for i in 0..1000 {
        mset.push(format!("key:{i}"));
        mset.push(i.to_string());
    }
    assert_eq!(c.cmd(&mset).await, ok());
    assert_reply!(c, ["DBSIZE"], int(1000));

    let scan_all = async |c: &mut RespClient, extra: &[&str]| {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(extra);
            let reply = c.cmd(&args).await;
            let [next, keys] = reply.items() else {
                panic!("SCAN replies [cursor, keys]: {reply:?}");
            };
            assert!(
                matches!(next, Value::Bulk(Some(_))),
                "cursor is a bulk string"
            );
            for key in keys.items() {
                *seen.entry(key.text()).or_default() += 1;
            }
            calls += 1;
            assert!(calls < 10_000, "SCAN does not terminate");
            cursor = next.text();
            if cursor == "0" {
                return (seen, calls);
            }
        }
    };

    let (seen, calls) = scan_all(&mut c, &["COUNT", "37"]).await;
    assert_eq!(seen.len(), 1000, "every key is returned");
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "returned more than once: {repeated:?}");
    assert!(calls > 1, "COUNT 37 over 1000 keys takes several calls");
    assert!((0..1000).all(|i| seen.contains_key(&format!("key:{i}"))));

    let (seen, _) = scan_all(&mut c, &["MATCH", "key:1*", "COUNT", "50"]).await;
    let expected: BTreeSet<String> = (0..1000)
        .map(|i| format!("key:{i}"))
        .filter(|k| k.starts_with("key:1"))
        .collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(seen.values().all(|n| *n == 1));

    let (seen, _) = scan_all(&mut c, &[]).await;
    assert_eq!(seen.len(), 1000, "default COUNT");
    let (seen, _) = scan_all(&mut c, &["TYPE", "string", "COUNT", "100"]).await;
    assert_eq!(seen.len(), 1000);
    let (seen, _) = scan_all(&mut c, &["TYPE", "hash", "COUNT", "100"]).await;
    assert!(seen.is_empty());

    let reply = c.cmd(&["SCAN", "0", "COUNT", "100000"]).await;
    assert_eq!(
        reply.items()[0],
        bulk("0"),
        "a big COUNT finishes in one call"
    );
    assert_eq!(reply.items()[1].items().len(), 1000);

    assert_reply!(c, ["SCAN", "abc"], err("ERR invalid cursor"));
    assert_reply!(c, ["SCAN", "0", "COUNT", "0"], err(SYNTAX));
    assert_reply!(c, ["SCAN", "0", "COUNT", "x"], err(NOT_INT));
    assert_reply!(c, ["SCAN", "0", "FOO", "bar"], err(SYNTAX));
    assert_reply!(c, ["SCAN", "0", "MATCH"], err(SYNTAX));
    assert_reply!(c, ["SCAN"], arity("scan"));
}

#[tokio::test]
async fn scan_on_empty_and_small_keyspaces() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SCAN", "0"], array(vec![bulk("0"), array(vec![])]));
    assert_reply!(c, ["SET", "only", "1"], ok());
    assert_reply!(
        c,
        ["SCAN", "0", "COUNT", "100"],
        array(vec![bulk("0"), bulks(&["only"])])
    );
}

#[tokio::test]
async fn randomkey() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["RANDOMKEY"], nil());
    assert_reply!(c, ["SET", "only", "1"], ok());
    assert_reply!(c, ["RANDOMKEY"], bulk("only"));
    assert_reply!(c, ["MSET", "a", "1", "b", "2", "c", "3"], ok());
    let all = ["a", "b", "c", "only"];
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let key = c.cmd(&["RANDOMKEY"]).await.text();
        assert!(all.contains(&key.as_str()), "{key}");
        seen.insert(key);
    }
    assert!(
        seen.len() > 1,
        "RANDOMKEY is not stuck on one key: {seen:?}"
    );
    assert_reply!(c, ["FLUSHALL"], ok());
    assert_reply!(c, ["RANDOMKEY"], nil());
}

#[tokio::test]
async fn rename_and_renamenx() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["RENAME", "missing", "b"], err("ERR no such key"));
    assert_reply!(c, ["RENAMENX", "missing", "b"], err("ERR no such key"));
    assert_reply!(c, ["SET", "a", "1", "EX", "100"], ok());
    assert_reply!(c, ["RENAME", "a", "b"], ok());
    assert_reply!(c, ["GET", "a"], nil());
    assert_reply!(c, ["GET", "b"], bulk("1"));
    assert_reply!(c, ["TTL", "b"], int(100), "RENAME carries the TTL");
    assert_reply!(c, ["SET", "c", "3"], ok());
    assert_reply!(c, ["RENAME", "b", "c"], ok());
    assert_reply!(c, ["GET", "c"], bulk("1"), "RENAME overwrites the target");
    assert_reply!(c, ["TTL", "c"], int(100));
    assert_reply!(c, ["RENAME", "c", "c"], ok());
    assert_reply!(c, ["GET", "c"], bulk("1"));

    assert_reply!(c, ["SET", "d", "4"], ok());
    assert_reply!(c, ["RENAMENX", "c", "d"], int(0));
    assert_reply!(c, ["MGET", "c", "d"], bulks(&["1", "4"]));
    assert_reply!(c, ["RENAMENX", "c", "c"], int(0));
    assert_reply!(c, ["RENAMENX", "c", "e"], int(1));
    assert_reply!(c, ["MGET", "c", "e"], array(vec![nil(), bulk("1")]));
    assert_reply!(c, ["DBSIZE"], int(2));
    assert_reply!(c, ["RENAME", "e"], arity("rename"));
}

// ---------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------

#[tokio::test]
async fn expire_family_and_ttl() {
    let (server, mut c) = setup().await;
    let now = server.now_ms();
    assert_reply!(c, ["TTL", "k"], int(-2));
    assert_reply!(c, ["PTTL", "k"], int(-2));
    assert_reply!(
        c,
        ["EXPIRE", "k", "100"],
        int(0),
        "no key, nothing to expire"
    );
    assert_reply!(c, ["SET", "k", "v"], ok());
    assert_reply!(c, ["TTL", "k"], int(-1));
    assert_reply!(c, ["PTTL", "k"], int(-1));
    assert_reply!(c, ["EXPIRE", "k", "100"], int(1));
    assert_reply!(c, ["TTL", "k"], int(100));
    assert_reply!(c, ["PTTL", "k"], int(100_000));
    assert_reply!(c, ["PEXPIRE", "k", "2500"], int(1));
    assert_reply!(c, ["PTTL", "k"], int(2500));
    assert_reply!(c, ["TTL", "k"], int(3));
    let at_s = now / 1000 + 500;
    assert_reply!(c, ["EXPIREAT", "k", at_s.to_string()], int(1));
    assert_reply!(c, ["EXPIRETIME", "k"], int(at_s as i64));
    assert_reply!(c, ["PEXPIRETIME", "k"], int(at_s as i64 * 1000));
    let at_ms = now + 12_345;
    assert_reply!(c, ["PEXPIREAT", "k", at_ms.to_string()], int(1));
    assert_reply!(c, ["PEXPIRETIME", "k"], int(at_ms as i64));
    assert_reply!(c, ["EXPIRETIME", "k"], int((at_ms / 1000) as i64));
    assert_reply!(c, ["PTTL", "k"], int(12_345));
    assert_reply!(c, ["GET", "k"], bulk("v"));

    // A deadline that is not in the future deletes the key.
    assert_reply!(c, ["EXPIRE", "k", "-1"], int(1));
    assert_reply!(c, ["GET", "k"], nil());
    assert_reply!(c, ["SET", "k", "v"], ok());
    assert_reply!(c, ["PEXPIRE", "k", "0"], int(1));
    assert_reply!(c, ["EXISTS", "k"], int(0));
    assert_reply!(c, ["SET", "k", "v"], ok());
    assert_reply!(c, ["EXPIREAT", "k", "1"], int(1));
    assert_reply!(c, ["EXISTS", "k"], int(0));

    assert_reply!(c, ["SET", "k", "v"], ok());
    assert_reply!(c, ["EXPIRE", "k", "abc"], err(NOT_INT));
    for (command, name) in [
        ("EXPIRE", "expire"),
        ("PEXPIRE", "pexpire"),
        ("EXPIREAT", "expireat"),
    ] {
        assert_reply!(
            c,
            [command, "k", "9223372036854775807"],
            err(&format!("ERR invalid expire time in '{name}' command"))
        );
    }
    assert_reply!(c, ["TTL", "k"], int(-1), "failed EXPIREs changed nothing");
}

#[tokio::test]
async fn expire_nx_xx_gt_lt() {
    let (_server, mut c) = setup().await;
    assert_reply!(c, ["SET", "k", "v"], ok());
    // No TTL yet: XX and GT fail, NX and LT succeed.
    assert_reply!(c, ["EXPIRE", "k", "100", "XX"], int(0));
    assert_reply!(c, ["EXPIRE", "k", "100", "GT"], int(0));
    assert_reply!(c, ["TTL", "k"], int(-1));
    assert_reply!(c, ["EXPIRE", "k", "100", "LT"], int(1));
    assert_reply!(c, ["TTL", "k"], int(100));
    assert_reply!(c, ["PERSIST", "k"], int(1));
    assert_reply!(c, ["EXPIRE", "k", "100", "NX"], int(1));
    assert_reply!(c, ["TTL", "k"], int(100));
    // TTL 100 now.
    assert_reply!(c, ["EXPIRE", "k", "50", "NX"], int(0));
    assert_reply!(c, ["EXPIRE", "k", "200", "LT"], int(0));
    assert_reply!(c, ["EXPIRE", "k", "50", "GT"], int(0));
    assert_reply!(c, ["TTL", "k"], int(100));
    assert_reply!(c, ["EXPIRE", "k", "200", "GT"], int(1));
    assert_reply!(c, ["TTL", "k"], int(200));
    assert_reply!(c, ["EXPIRE", "k", "50", "LT"], int(1));
    assert_reply!(c, ["TTL", "k"], int(50));
    assert_reply!(c, ["EXPIRE", "k", "70", "XX"], int(1));
    assert_reply!(c, ["TTL", "k"], int(70));
    assert_reply!(c, ["EXPIRE", "k", "80", "XX", "GT"], int(1));
    assert_reply!(c, ["EXPIRE", "k", "90", "xx", "lt"], int(0));
    assert_reply!(c, ["PEXPIRE", "k", "1000", "LT"], int(1));
    assert_reply!(c, ["PTTL", "k"], int(1000));
    assert_reply!(c, ["EXPIRE", "missing", "10", "NX"], int(0));

    let incompatible = err("ERR NX and XX, GT or LT options at the same time are not compatible");
    assert_reply!(c, ["EXPIRE", "k", "100", "NX", "XX"], incompatible.clone());
    assert_reply!(c, ["EXPIRE", "k", "100", "NX", "GT"], incompatible.clone());
    assert_reply!(c, ["PEXPIRE", "k", "100", "LT", "NX"], incompatible);
    assert_reply!(
        c,
        ["EXPIRE", "k", "100", "GT", "LT"],
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_reply!(
        c,
        ["EXPIRE", "k", "100", "FOO"],
        err("ERR Unsupported option FOO")
    );
    assert_reply!(c, ["PTTL", "k"], int(1000));
}

#[tokio::test]
async fn persist_and_expiretime() {
    let (server, mut c) = setup().await;
    let now = server.now_ms();
    assert_reply!(c, ["PERSIST", "missing"], int(0));
    assert_reply!(c, ["EXPIRETIME", "missing"], int(-2));
    assert_reply!(c, ["PEXPIRETIME", "missing"], int(-2));
    assert_reply!(c, ["SET", "k", "v"], ok());
    assert_reply!(c, ["PERSIST", "k"], int(0));
    assert_reply!(c, ["EXPIRETIME", "k"], int(-1));
    assert_reply!(c, ["PEXPIRETIME", "k"], int(-1));
    assert_reply!(c, ["PEXPIRE", "k", "10500"], int(1));
    assert_reply!(c, ["PEXPIRETIME", "k"], int((now + 10_500) as i64));
    assert_reply!(c, ["EXPIRETIME", "k"], int(((now + 10_500) / 1000) as i64));
    assert_reply!(c, ["PERSIST", "k"], int(1));
    assert_reply!(c, ["TTL", "k"], int(-1));
    assert_reply!(c, ["EXPIRETIME", "k"], int(-1));
    assert_reply!(c, ["GET", "k"], bulk("v"));
    assert_reply!(c, ["PERSIST"], arity("persist"));
}

#[tokio::test]
async fn lazy_expiry_with_the_manual_clock() {
    let server = TestServer::builder().start().await;
    let mut c = server.connect().await;
    assert_eq!(server.now_ms(), START_MS);
    assert_reply!(c, ["SET", "k", "v", "PX", "1000"], ok());
    assert_reply!(c, ["SET", "forever", "f"], ok());
    assert_reply!(
        c,
        ["MSET", "x1", "1", "x2", "2", "x3", "3", "x4", "4"],
        ok()
    );
    for key in ["x1", "x2", "x3", "x4"] {
        assert_reply!(c, ["PEXPIRE", key, "1000"], int(1));
    }
    server.advance_ms(999);
    assert_reply!(c, ["GET", "k"], bulk("v"));
    assert_reply!(c, ["PTTL", "k"], int(1));
    assert_reply!(c, ["TTL", "k"], int(0));
    server.advance_ms(2);
    assert_reply!(c, ["GET", "k"], nil());
    assert_reply!(c, ["TTL", "k"], int(-2));
    assert_reply!(c, ["PTTL", "k"], int(-2));
    assert_reply!(c, ["EXISTS", "k"], int(0));
    // Every read path hides expired keys.
    assert_reply!(c, ["EXISTS", "x1"], int(0));
    assert_reply!(c, ["STRLEN", "x2"], int(0));
    assert_reply!(c, ["MGET", "x3", "forever"], array(vec![nil(), bulk("f")]));
    assert_reply!(c, ["KEYS", "*"], bulks(&["forever"]));
    let scan = c.cmd(&["SCAN", "0", "COUNT", "1000"]).await;
    assert_eq!(scan.items()[1], bulks(&["forever"]));
    assert_reply!(c, ["RANDOMKEY"], bulk("forever"));
    assert_reply!(c, ["TYPE", "x4"], simple("none"));
    assert_reply!(c, ["RENAME", "x4", "y"], err("ERR no such key"));
    // Writes start from nothing.
    assert_reply!(c, ["SET", "k", "5", "PX", "10"], ok());
    server.advance_ms(11);
    assert_reply!(c, ["INCR", "k"], int(1));
    assert_reply!(c, ["TTL", "k"], int(-1));
    assert_reply!(c, ["SET", "a", "abc", "EX", "1"], ok());
    server.advance_ms(1001);
    assert_reply!(c, ["APPEND", "a", "xy"], int(2));
    assert_reply!(c, ["SETNX", "x1", "new"], int(1));
    assert_reply!(c, ["GET", "x1"], bulk("new"));
    assert_reply!(c, ["GET", "forever"], bulk("f"));
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

#[tokio::test]
async fn command_count_docs_and_info() {
    let (_server, mut c) = setup().await;
    let count = c.cmd(&["COMMAND", "COUNT"]).await.as_int();
    let all = c.cmd(&["COMMAND"]).await;
    assert_eq!(all.items().len() as i64, count);
    let names: BTreeSet<String> = all.items().iter().map(|e| e.items()[0].text()).collect();
    assert_eq!(names.len() as i64, count, "names are unique");
    for name in [
        "ping",
        "echo",
        "select",
        "dbsize",
        "flushall",
        "get",
        "set",
        "setnx",
        "setex",
        "psetex",
        "getset",
        "getdel",
        "getex",
        "mget",
        "mset",
        "msetnx",
        "append",
        "strlen",
        "getrange",
        "setrange",
        "incr",
        "incrby",
        "incrbyfloat",
        "decr",
        "decrby",
        "del",
        "unlink",
        "exists",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "ttl",
        "pttl",
        "persist",
        "expiretime",
        "pexpiretime",
        "client",
        "command",
        "config",
        "info",
        "hello",
        "auth",
        "quit",
    ] {
        assert!(names.contains(name), "COMMAND lists {name}");
    }
    let get = all
        .items()
        .iter()
        .find(|e| e.items()[0] == bulk("get"))
        .unwrap();
    assert_eq!(get.items()[1], int(2), "get's arity");
    let set = all
        .items()
        .iter()
        .find(|e| e.items()[0] == bulk("set"))
        .unwrap();
    assert_eq!(set.items()[1], int(-3), "set's arity");
    assert_eq!(&set.items()[3..6], &[int(1), int(1), int(1)], "set's keys");

    let info = c.cmd(&["COMMAND", "INFO", "get", "nosuch"]).await;
    assert_eq!(info.items().len(), 2);
    assert_eq!(&info.items()[0], get);
    assert_eq!(info.items()[1], nil(), "an unknown command is a null");

    let docs = c.cmd(&["COMMAND", "DOCS"]).await;
    let pairs = docs.pairs();
    assert_eq!(pairs.len() as i64, count);
    let get_docs = docs.get("get").expect("COMMAND DOCS has get");
    assert!(get_docs.get("summary").is_some(), "{get_docs:?}");
    let one = c.cmd(&["COMMAND", "DOCS", "get"]).await;
    assert_eq!(one.pairs().len(), 1);
    assert_eq!(one.pairs()[0].0, bulk("get"));
    assert_reply!(
        c,
        ["COMMAND", "FOO"],
        err("ERR unknown subcommand 'FOO'. Try COMMAND HELP.")
    );
}

#[tokio::test]
async fn config_get() {
    let (_server, mut c) = setup().await;
    assert_reply!(
        c,
        ["CONFIG", "GET", "appendonly"],
        bulks(&["appendonly", "yes"])
    );
    assert_reply!(c, ["CONFIG", "GET", "save"], bulks(&["save", ""]));
    assert_reply!(c, ["CONFIG", "GET", "SAVE"], bulks(&["save", ""]));
    assert_reply!(c, ["CONFIG", "GET", "nosuchparameter"], array(vec![]));
    let max = c.cmd(&["CONFIG", "GET", "*max*"]).await.pairs();
    let names: BTreeSet<String> = max.iter().map(|(k, _)| k.text()).collect();
    assert!(names.iter().all(|n| n.contains("max")), "{names:?}");
    for name in ["maxclients", "maxmemory", "proto-max-bulk-len"] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    let maxclients = max.iter().find(|(k, _)| k.text() == "maxclients").unwrap();
    assert_eq!(maxclients.1, bulk("10000"));
    let two = c.cmd(&["CONFIG", "GET", "save", "appendonly"]).await;
    assert_eq!(two.pairs().len(), 2);
    assert_reply!(c, ["CONFIG"], arity("config"));
    assert_reply!(
        c,
        ["CONFIG", "FOO"],
        err("ERR unknown subcommand 'FOO'. Try CONFIG HELP.")
    );
    assert_reply!(
        c,
        ["CONFIG", "GET"],
        err("ERR wrong number of arguments for 'config|get' command")
    );
}

fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(str::to_string)
}

#[tokio::test]
async fn info_sections_and_counters() {
    let (_server, mut c) = setup().await;
    let info = c.cmd(&["INFO"]).await;
    assert!(
        matches!(info, Value::Bulk(Some(_))),
        "INFO is a bulk string in RESP2"
    );
    let info = info.text();
    for section in ["# Server", "# Clients", "# Stats", "# Keyspace"] {
        assert!(
            info.contains(&format!("{section}\r\n")),
            "{section} in {info}"
        );
    }
    assert!(info.contains("redis_version:"), "{info}");
    assert!(
        !info.contains("db0:"),
        "an empty keyspace lists no db0: {info}"
    );
    let processed = |info: &str| -> u64 {
        info_field(info, "total_commands_processed")
            .expect("total_commands_processed")
            .parse()
            .unwrap()
    };
    let before = processed(&info);

    assert_reply!(c, ["MSET", "a", "1", "b", "2", "c", "3"], ok());
    assert_reply!(c, ["EXPIRE", "a", "100"], int(1));
    for _ in 0..5 {
        assert_reply!(c, ["PING"], simple("PONG"));
    }
    let info = c.cmd(&["INFO"]).await.text();
    assert!(
        info.contains("\r\ndb0:keys=3,expires=1,"),
        "keyspace line in {info}"
    );
    let after = processed(&info);
    assert!(after >= before + 7, "{before} -> {after}");
    let connected = info_field(&info, "connected_clients").unwrap();
    assert_eq!(connected, "1");

    let server = c.cmd(&["INFO", "server"]).await.text();
    assert!(server.starts_with("# Server\r\n"), "{server}");
    assert!(!server.contains("# Keyspace"), "{server}");
    let keyspace = c.cmd(&["INFO", "KEYSPACE"]).await.text();
    assert!(
        keyspace.starts_with("# Keyspace\r\ndb0:keys=3,"),
        "{keyspace}"
    );
    assert!(!keyspace.contains("# Server"), "{keyspace}");
}

#[tokio::test]
async fn hello_switches_to_resp3() {
    let (_server, mut c) = setup().await;
    assert_reply!(
        c,
        ["HELLO", "4"],
        err("NOPROTO unsupported protocol version")
    );
    assert_reply!(
        c,
        ["HELLO", "abc"],
        err("ERR Protocol version is not an integer or out of range")
    );
    assert_reply!(
        c,
        ["HELLO", "3", "FOO"],
        err("ERR Syntax error in HELLO option 'FOO'")
    );
    // The failed HELLOs left the connection on RESP2.
    assert_reply!(c, ["GET", "missing"], nil());

    let hello = c.cmd(&["HELLO", "3"]).await;
    let Value::Map(_) = &hello else {
        panic!("HELLO 3 replies with a RESP3 map: {hello:?}");
    };
    assert_eq!(hello.get("proto"), Some(int(3)));
    assert_eq!(hello.get("server"), Some(bulk("redis")));
    assert!(hello.get("version").is_some());
    assert!(matches!(hello.get("id"), Some(Value::Int(id)) if id > 0));
    assert_eq!(hello.get("mode"), Some(bulk("standalone")));
    assert_eq!(hello.get("role"), Some(bulk("master")));
    assert_eq!(hello.get("modules"), Some(array(vec![])));

    assert_reply!(c, ["GET", "missing"], Value::Null);
    assert_reply!(c, ["MGET", "missing"], array(vec![Value::Null]));
    assert_reply!(c, ["SET", "k", "v", "NX"], ok());
    assert_reply!(c, ["SET", "k", "v", "NX"], Value::Null);
    assert_reply!(c, ["GET", "k"], bulk("v"));
    assert_reply!(
        c,
        ["CONFIG", "GET", "save"],
        Value::Map(vec![(bulk("save"), bulk(""))])
    );
    let info = c.cmd(&["INFO", "server"]).await;
    let Value::Verbatim(format, text) = &info else {
        panic!("INFO is a verbatim string in RESP3: {info:?}");
    };
    assert_eq!(format, "txt");
    assert!(text.starts_with(b"# Server\r\n"));
    assert!(matches!(
        c.cmd(&["COMMAND", "DOCS", "get"]).await,
        Value::Map(_)
    ));

    // HELLO without a version keeps RESP3; HELLO 2 goes back.
    let hello = c.cmd(&["HELLO"]).await;
    assert_eq!(hello.get("proto"), Some(int(3)));
    let hello = c.cmd(&["HELLO", "2"]).await;
    assert!(matches!(hello, Value::Array(Some(_))), "{hello:?}");
    assert_eq!(hello.get("proto"), Some(int(2)));
    assert_reply!(c, ["GET", "missing"], nil());

    let hello = c.cmd(&["HELLO", "3", "SETNAME", "named"]).await;
    assert_eq!(hello.get("proto"), Some(int(3)));
    assert_reply!(c, ["CLIENT", "GETNAME"], bulk("named"));
}
