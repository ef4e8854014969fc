// Log errors for monitoring
if (@ERROR) {
@LOGS(`Error: ${@ERROR.message}`);
await #error_logs.create({
data: {
errorMessage: @ERROR.message,
statusCode: @ERROR.statusCode,
userId: @USER?.id,
url: @API.request.url,
timestamp: new Date()
}
});
// Send notification on critical errors
if (@ERROR.statusCode >= 500) {
await @SOCKET.emitToRoom('admin', 'server-error', {
message: @ERROR.message,
url: @API.request.url
});
}
}
