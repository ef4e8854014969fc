// The `audit` module · delete.after_save: the record as it was.
export default async ({ resource, record, recordId, user, tables }) => {
  await tables.audit_log.create({
    data: { resource, action: "delete", record_id: String(recordId), user_id: user.id, diff: { before: record } },
  });
  return { ok: true };
};
