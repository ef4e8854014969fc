// The `audit` module · create.after_save: the new record, after the commit.
export default async ({ resource, record, recordId, user, tables }) => {
  await tables.audit_log.create({
    data: { resource, action: "create", record_id: String(recordId), user_id: user.id, diff: { after: record } },
  });
  return { ok: true };
};
