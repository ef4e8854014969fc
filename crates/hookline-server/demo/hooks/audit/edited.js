// The `audit` module · edit.after_save: what changed, before and after.
export default async ({ resource, recordId, oldRecord, updates, user, tables }) => {
  const before = {};
  for (const column of Object.keys(updates)) {
    before[column] = oldRecord[column];
  }
  await tables.audit_log.create({
    data: { resource, action: "edit", record_id: String(recordId), user_id: user.id, diff: { before, after: updates } },
  });
  return { ok: true };
};
