// Add metadata
if (@DATA) {
@DATA.meta = {
processedAt: new Date(),
processedBy: @USER?.id,
version: '1.0'
};
}
// Add computed fields to each item
if (@DATA && Array.isArray(@DATA.data)) {
@DATA.data = @DATA.data.map(item => ({
...item,
isActive: item.status === 'active',
displayName: item.nickname || item.name
}));
}
