// Seed 001's "Complete Example", as its document gives it (its text, byte for byte, emoji included as the
// document has them, mis-decoded: "âœ…" is a check mark). The code runs in a browser page that has loaded the
// Socket.IO client (`io`) and defines the UI functions it calls (`addMessageToUI`, `showTypingIndicator`,
// `hideTypingIndicator`, `updateUserStatus`, `alert`); tests/realtime/test_nestjs_dialect.py adds a prelude
// defining them, and replaces the host and port, the ids and the query (to add the token) by their literal
// text, before running it with tests/js/run_example.mjs.

// Initialize connection
const socket = io('http://localhost:3000/chat', {
  query: { userId: 1 }
});

// Connection handlers
socket.on('connect', () => {
  console.log('âœ… Connected to chat server');
  
  // Join conversation
  socket.emit('join-conversation', {
    conversationId: 1,
    userId: 1
  });
});

socket.on('disconnect', () => {
  console.log('âŒ Disconnected from chat server');
});

// Join conversation confirmation
socket.on('joined-conversation', (data) => {
  console.log('ğŸ“¥ Joined conversation:', data.conversationId);
});

// Receive messages
socket.on('receive-message', (data) => {
  console.log('ğŸ“¨ New message:', data);
  addMessageToUI(data);
});

// Message sent confirmation
socket.on('message-sent', (data) => {
  console.log('âœ… Message sent successfully:', data);
});

// Error handling
socket.on('message-error', (data) => {
  console.error('âŒ Message error:', data.error);
  alert(data.error);
});

socket.on('error', (data) => {
  console.error('âŒ Error:', data.message);
});

// Typing indicators
socket.on('user-typing', (data) => {
  if (data.isTyping) {
    showTypingIndicator(`User ${data.userId} is typing...`);
  } else {
    hideTypingIndicator();
  }
});

// User presence
socket.on('user:online', (data) => {
  updateUserStatus(data.userId, 'online');
});

socket.on('user:offline', (data) => {
  updateUserStatus(data.userId, 'offline');
});

// Send a message
function sendMessage(content) {
  socket.emit('send-message', {
    sender_id: 1,
    conversation_id: 1,
    message_type: 'text',
    content: content
  });
}

// Send typing indicator
function setTyping(isTyping) {
  socket.emit('typing', {
    conversationId: 1,
    userId: 1,
    isTyping: isTyping
  });
}

// Usage
sendMessage('Hello, World!');
setTyping(true);  // Start typing
setTimeout(() => setTyping(false), 1000);  // Stop typing after 1s
