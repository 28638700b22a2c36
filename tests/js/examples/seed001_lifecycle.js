// Seed 001's "Connection Lifecycle", its five snippets in order, as its document gives them (their text, byte
// for byte; each under its heading, as a comment). The code runs in a browser page that has loaded the
// Socket.IO client (`io`) and defines the UI functions it calls (`displayMessage`, `showTypingIndicator`);
// tests/realtime/test_nestjs_dialect.py adds a prelude defining them, and replaces the host and port, the ids
// and the query (to add the token) by their literal text, before running it with tests/js/run_example.mjs.

// 1. Connect
const socket = io('http://localhost:3000/chat', {
  query: { userId: 1 }
});

socket.on('connect', () => {
  console.log('Connected to chat server');
});

// 2. Join Conversation
socket.emit('join-conversation', {
  conversationId: 1,
  userId: 1
});

socket.on('joined-conversation', (data) => {
  console.log('Joined conversation:', data.conversationId);
});

// 3. Send/Receive Messages
// Send
socket.emit('send-message', {
  sender_id: 1,
  conversation_id: 1,
  message_type: 'text',
  content: 'Hello!'
});

// Receive
socket.on('receive-message', (data) => {
  displayMessage(data);
});

// 4. Handle Typing
// Start typing
socket.emit('typing', {
  conversationId: 1,
  userId: 1,
  isTyping: true
});

// Listen for others typing
socket.on('user-typing', (data) => {
  if (data.isTyping) {
    showTypingIndicator(data.userId);
  }
});

// 5. Disconnect
socket.on('disconnect', () => {
  console.log('Disconnected from chat server');
});
