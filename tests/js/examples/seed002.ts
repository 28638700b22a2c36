// Seed 002's "Usage Examples", as its document gives them, one after another in the document's order:
// Connecting to the Chat Server, Joining a Chat Room, Sending a Message, Updating Presence, Typing Indicators,
// Direct Messaging, Retrieving Direct Messages and Rooms (WebSocket Events), Error Handling, and Listing Rooms,
// People, and Favorites. tests/realtime/test_bull_dialect.py runs them (tests/js/run_example.mjs) unchanged but
// for the host and port, the token and the ids ('user_id', 'room_id', 'target_user_id'), which it replaces by
// their literal text. The examples use `io` without importing it: the import below is the one line added, the
// way a client application using npm `socket.io-client` has it. The placeholders the document leaves for the
// reader to fill in from a server's answers ('direct_room_id', 'room_or_user_id') stay as they are: the server
// refuses them with `chat:error`, which the Error Handling example prints.
import { io } from 'socket.io-client';

// -- Connecting to the Chat Server
const socket = io('ws://localhost:3003/chat/', {
  transports: ['websocket'],
  auth: {
    token: 'Bearer your_jwt_token',
    userId: 'user_id'
  }
});

// -- Joining a Chat Room
socket.emit('chat:join', 'room_id');

socket.on('chat:message', (message) => {
  // console.log('New message:', message);
});

// -- Sending a Message
socket.emit('chat:send_message', {
  roomId: 'room_id',
  content: 'Hello, world!',
  type: 'TEXT'
});

// -- Updating Presence
socket.emit('chat:presence', 'online');

socket.on('chat:presence_update', ({ userId, status }) => {
  // console.log(`User ${userId} is now ${status}`);
});

// -- Typing Indicators
// When user starts typing
socket.emit('chat:typing', {
  roomId: 'room_id',
  isTyping: true
});

// When user stops typing
socket.emit('chat:typing', {
  roomId: 'room_id',
  isTyping: false
});

// Listen for typing updates
socket.on('chat:typing_status', ({ userId, roomId, isTyping }) => {
  // console.log(`User ${userId} is ${isTyping ? 'typing' : 'not typing'} in room ${roomId}`);
});

// -- Direct Messaging
// Initiate a direct chat with another user
socket.emit('chat:start_direct', 'target_user_id');

// Listen for the room creation/join confirmation
socket.on('chat:message', (message) => {
  if (message.type === 'SYSTEM' && message.content === 'Direct chat started') {
    // console.log('Direct chat room created:', message.roomId);
    // Store this roomId for future direct messages with this user
  }
});

// Send a direct message (once you have the roomId)
socket.emit('chat:send_message', {
  roomId: 'direct_room_id', // The roomId received from the previous step
  content: 'Hey, how are you?',
  type: 'TEXT'
});

// Listen for direct messages
socket.on('chat:message', (message) => {
  if (message.roomType === 'DIRECT') {
    // console.log('New direct message:', message);
  }
});

// -- Retrieving Direct Messages and Rooms: WebSocket Events
socket.on('chat:init_data', (data) => {
  const { rooms } = data;
  
  // Filter direct message rooms
  const directRooms = rooms.filter(room => room.type === 'DIRECT');
  // console.log('Direct message rooms:', directRooms);
});

// -- Error Handling
socket.on('chat:error', (error) => {
  console.error('Chat error:', error.message);
});

// -- Listing Rooms, People, and Favorites
// Listen for initial lists when connecting
socket.on('chat:init_data', (data) => {
  const {
    rooms,         // List of all rooms the user is in
    people,        // List of all users the user has interacted with
    favorites      // List of favorited rooms/people
  } = data;
});

// Listen for updates to these lists
socket.on('chat:room_list_update', (rooms) => {
  // console.log('Updated room list:', rooms);
});

socket.on('chat:people_list_update', (people) => {
  // console.log('Updated people list:', people);
});

socket.on('chat:favorites_update', (favorites) => {
  // console.log('Updated favorites:', favorites);
});

// Add/Remove from favorites
socket.emit('chat:toggle_favorite', {
  id: 'room_or_user_id',
  type: 'ROOM' // or 'USER' for people
});
