// apartments · edit.before_save and delete.before_save: realtors change only their own
// apartments, and cannot hand one to another realtor.
export default async ({ oldRecord, record, updates, user }) => {
  if (user.role === "superadmin") {
    return { ok: true };
  }
  const current = oldRecord || record;
  if (current.realtor_id !== user.id) {
    return { ok: false, error: "You can only change your own apartments", status: 403 };
  }
  if (updates && "realtor_id" in updates && updates.realtor_id !== user.id) {
    return { ok: false, error: "Only a superadmin can move an apartment to another realtor", status: 403 };
  }
  return { ok: true };
};
