// The JavaScript side of a hookline script worker, evaluated once per QuickJS context.
//
// It receives `host`, the only door to the outside: `host.log(level, text)` and
// `host.table(method, table, argsJson)` (answers JSON, or throws). It installs `console`, and
// returns what the worker needs: `bodyContext(values)` builds the `$ctx` of body-style
// scripts, `functionArgs(values)` adds `tables` for function-style ones, `rejection(error)` recognises errors thrown by `@THROW4xx(…)` / `$ctx.$throw[…]`,
// and `objectPrototype` tells plain data objects from others when converting results.
//
// Everything a script could replace later (JSON, Object, …) is captured here first.
(function (host) {
  "use strict";
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const keys = Object.keys;
  const isArray = Array.isArray;

  const format = (args) =>
    args
      .map((value) => {
        if (typeof value === "string") return value;
        if (value instanceof Error) return `${value.name}: ${value.message}`;
        try {
          const text = stringify(value);
          return text === undefined ? String(value) : text;
        } catch {
          return String(value);
        }
      })
      .join(" ");

  // Levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error.
  const logger = (level) => (...args) => host.log(level, format(args));
  defineProperty(globalThis, "console", {
    value: freeze({
      trace: logger(0),
      debug: logger(1),
      log: logger(2),
      info: logger(2),
      warn: logger(3),
      error: logger(4),
    }),
    enumerable: false,
    configurable: false,
    writable: false,
  });

  class HttpError extends Error {
    constructor(statusCode, message, details) {
      super(message === undefined ? `request failed with status ${statusCode}` : String(message));
      this.name = "HttpError";
      this.statusCode = statusCode;
      this.details = details;
    }
  }
  const throwers = {};
  for (let status = 400; status < 600; status++) {
    throwers[status] = (message, details) => {
      throw new HttpError(status, message, details);
    };
  }
  freeze(throwers);

  const call = (method, name) => async (args) =>
    parse(host.table(method, name, stringify(args === undefined ? null : args)));
  const table = (name) =>
    freeze({
      find: call("find", name),
      create: call("create", name),
      update: call("update", name),
      delete: call("delete", name),
    });
  const repos = new Proxy(freeze({}), {
    get: (_target, name) => (typeof name === "string" ? table(name) : undefined),
  });
  // @SOCKET: no realtime delivery exists yet, so every method is a sink that resolves to
  // undefined (`await @SOCKET.emitToRoom(…)` works and sends nothing).
  const sink = async () => undefined;
  const socket = new Proxy(freeze({}), {
    get: (_target, name) => (typeof name === "string" ? sink : undefined),
  });

  // `$ctx` of body-style scripts is a view of the call's values: `$ctx.$k` reads and writes
  // `values.k`. Accessors for the macro keys live on a shared prototype; other keys of the
  // values get their own. `$ctx.$share` always has a `$logs` array (Enfyra's rule), created
  // when first needed.
  const VALUES = Symbol("values");
  const MACRO_KEYS = ["body", "query", "params", "user", "data", "error", "statusCode", "api"];
  const RESERVED = new Set([...MACRO_KEYS, "share", "logs", "throw", "repos", "socket"]);
  const shareOf = (values) => {
    let share = values.share;
    if (share === null || typeof share !== "object") {
      share = { $logs: [] };
      values.share = share;
    } else if (!isArray(share.$logs)) {
      share.$logs = [];
    }
    return share;
  };
  const accessor = (key) => ({
    get() {
      return this[VALUES][key];
    },
    set(value) {
      this[VALUES][key] = value;
    },
    enumerable: true,
  });
  const prototype = {};
  for (const key of MACRO_KEYS) defineProperty(prototype, "$" + key, accessor(key));
  defineProperty(prototype, "$share", {
    get() {
      return shareOf(this[VALUES]);
    },
    set(value) {
      this[VALUES].share = value;
    },
    enumerable: true,
  });
  defineProperty(prototype, "$logs", {
    get() {
      const values = this[VALUES];
      return (...args) => {
        const line = format(args);
        shareOf(values).$logs.push(line);
        host.log(2, line);
      };
    },
    enumerable: true,
  });
  defineProperty(prototype, "$throw", { value: throwers, enumerable: true });
  defineProperty(prototype, "$repos", { value: repos, enumerable: true });
  defineProperty(prototype, "$socket", { value: socket, enumerable: true });
  freeze(prototype);
  const create = Object.create;

  const bodyContext = (values) => {
    const $ctx = create(prototype);
    $ctx[VALUES] = values;
    for (const key of keys(values)) {
      if (!RESERVED.has(key)) defineProperty($ctx, "$" + key, accessor(key));
    }
    return $ctx;
  };

  // Function-style scripts get the data API as a non-enumerable `tables` key of their
  // argument (`({ record, tables }) => …`), unless the context has a `tables` value itself.
  const hasOwn = Object.prototype.hasOwnProperty;
  const functionArgs = (values) => {
    if (!hasOwn.call(values, "tables")) defineProperty(values, "tables", { value: repos });
  };

  const rejection = (error) =>
    error instanceof HttpError ? [error.statusCode, error.message] : undefined;

  return { bodyContext, functionArgs, rejection, objectPrototype: Object.prototype };
});
