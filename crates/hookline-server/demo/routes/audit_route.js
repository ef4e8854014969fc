// Every custom route · global post-hook: one audit_log row per call, success or error.
await #audit_log.create({
  data: {
    resource: "route",
    action: `${@API.request.method} ${@API.request.url}`,
    user_id: @USER?.id ?? null,
    diff: { status: @STATUS, error: @ERROR ? @ERROR.message : null },
  },
});
