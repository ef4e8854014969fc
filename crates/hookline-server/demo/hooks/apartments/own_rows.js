// apartments · list.before_datasource_request (AdminForth's example): realtors see only their
// own apartments; a superadmin sees all. Counts and aggregates are scoped the same way.
export default async ({ query, user }) => {
  if (user.role === "superadmin") {
    return { ok: true };
  }
  // Drop any realtor filter the client sent, then scope to the caller.
  query.filters = (query.filters || []).filter((filter) => filter.field !== "realtor_id");
  query.filters.push({ field: "realtor_id", operator: "eq", value: user.id });
  return { ok: true };
};
